import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { walletErrorMessage } from "./chain.ts";

/**
 * A button's wallet or API action: `busy` while it runs, its failure in words in `error`,
 * and in `done` what it did, when `work` returns something to say (both cleared when it
 * starts again). `onError` sees the raw failure first.
 */
export function useAction(onError?: (error: unknown) => void) {
	const [busy, setBusy] = useState(false);
	const [error, setError] = useState<string | null>(null);
	const [done, setDone] = useState<ComponentChildren>(null);
	const run = async (work: () => Promise<ComponentChildren> | Promise<void>) => {
		setBusy(true);
		setError(null);
		setDone(null);
		try {
			const said = await work();
			setDone(() => (said === undefined ? null : said));
		} catch (e) {
			onError?.(e);
			setError(walletErrorMessage(e));
		} finally {
			setBusy(false);
		}
	};
	return { busy, error, done, run };
}
