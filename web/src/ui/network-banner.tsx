import { useState } from "preact/hooks";
import { askDeploymentChainAgain, chainName, type Network, useNetwork } from "../data/network.ts";

// Above every page while a wallet is connected: says when it is on another network than
// the deployment's, or when that cannot be checked, before anything is sent. The wallet's
// numbers are hidden meanwhile (pages/trade.tsx, pages/wallet.tsx).

export function NetworkBanner() {
	const network = useNetwork();
	if (network.kind === "wrong") return <WrongNetwork network={network} />;
	if (network.kind === "failed") {
		return (
			<div class="note warn banner" role="alert" data-testid="network-banner">
				<p>
					<strong>Network not checked.</strong> Could not read which network Modeldex runs on (GET /v1/chain):{" "}
					{network.error.message} Balances, holdings and prices from your wallet are hidden until it can be checked.
				</p>
				<button type="button" class="small" onClick={() => void askDeploymentChainAgain().catch(() => {})}>
					Try again
				</button>
			</div>
		);
	}
	return null;
}

function WrongNetwork({ network }: { network: Extract<Network, { kind: "wrong" }> }) {
	const [busy, setBusy] = useState(false);
	const [error, setError] = useState<string | null>(null);
	const switchNetwork = async () => {
		setBusy(true);
		setError(null);
		try {
			// chain.ts carries viem's wallet actions: loaded when asked for, not on every page.
			const { switchToDeploymentChain } = await import("../data/chain.ts");
			await switchToDeploymentChain();
		} catch (e) {
			setError(e instanceof Error ? e.message : String(e));
		} finally {
			setBusy(false);
		}
	};
	return (
		<div class="note warn banner" role="alert" data-testid="network-banner">
			<p>
				<strong>Wrong network.</strong> Your wallet is on {chainName(network.wallet)}, but Modeldex runs on{" "}
				{chainName(network.deployment)}. Balances, holdings and prices from your wallet are hidden until it switches.
			</p>
			<button type="button" class="small" disabled={busy} onClick={switchNetwork}>
				{busy ? "Confirm in your wallet…" : "Switch network"}
			</button>
			{error && <p class="banner-error">{error}</p>}
		</div>
	);
}

/** In a panel whose numbers come from the wallet: why they are not shown (the banner above says what to do). */
export function WalletNumbersHidden({ network }: { network: Network }) {
	if (network.kind === "wrong") {
		return (
			<p class="muted" data-testid="numbers-hidden">
				Not shown while your wallet is on {chainName(network.wallet)}: Modeldex runs on {chainName(network.deployment)}.
			</p>
		);
	}
	if (network.kind === "failed") {
		return (
			<p class="muted" data-testid="numbers-hidden">
				Not shown until the network Modeldex runs on can be checked.
			</p>
		);
	}
	return null;
}

/** What a number read through the wallet shows while it is not shown: "—" when hidden, "…" while loading. */
export const notShown = (network: Network) => (network.kind === "wrong" || network.kind === "failed" ? "—" : "…");
