import { useState } from "preact/hooks";
import { walletErrorMessage } from "./chain.ts";

/**
 * A button's wallet or API action: `busy` while it runs, and its failure in words in
 * `error` (cleared when it starts again). `onError` sees the raw failure first.
 */
export function useAction(onError?: (error: unknown) => void) {
	const [busy, setBusy] = useState(false);
	const [error, setError] = useState<string | null>(null);
	const run = async (work: () => Promise<void>) => {
		setBusy(true);
		setError(null);
		try {
			await work();
		} catch (e) {
			onError?.(e);
			setError(walletErrorMessage(e));
		} finally {
			setBusy(false);
		}
	};
	return { busy, error, run };
}
