import { useEffect } from "preact/hooks";
import { api } from "./api.ts";
import { store } from "./store.ts";
import { useWallet } from "./wallet.ts";

// The deployment's chain (GET /v1/chain) against the wallet's. One deployer key gives the
// same contract addresses on every chain, so a wallet on a testnet where the team also
// deployed reads plausible numbers there: balances, holdings and quotes read through the
// wallet are shown only when it is on the deployment's chain, and the page says when it is
// not (ui/network-banner.tsx). On every page, so nothing heavy: switching the wallet lives
// in chain.ts.

/** What the dashboard knows of the deployment's chain. */
export type Deployment =
	| { state: "asking" }
	/** chainId null: the gateway names no chain (CHAIN_ID unset), so there is nothing to check against. */
	| { state: "known"; chainId: number | null }
	| { state: "failed"; error: Error };

const deployment = store<Deployment>({ state: "asking" });
let asked: Promise<number | null> | null = null;
const setDeployment = deployment.set;

/** The chain the contracts are on, asked of the gateway once (again after a failure); null when it does not say. */
export function deploymentChainId(): Promise<number | null> {
	if (!asked) {
		const asking = api.chainId();
		asked = asking;
		if (deployment.get().state === "failed") setDeployment({ state: "asking" });
		asking.then(
			(chainId) => {
				if (asked === asking) setDeployment({ state: "known", chainId });
			},
			(error: unknown) => {
				if (asked !== asking) return;
				asked = null;
				setDeployment({ state: "failed", error: error instanceof Error ? error : new Error(String(error)) });
			},
		);
	}
	return asked;
}

/** Asks the gateway again, whatever it said before (the banner's "Try again"). */
export function askDeploymentChainAgain(): Promise<number | null> {
	asked = null;
	setDeployment({ state: "asking" });
	return deploymentChainId();
}

/** Where the connected wallet is, against the deployment's chain. */
export type Network =
	/** No wallet connected, or not yet known where it or the deployment is. */
	| { kind: "unknown" }
	/** The gateway names no chain: nothing to check (the wallet's numbers are shown, as it reads them). */
	| { kind: "unchecked"; wallet: number }
	/** GET /v1/chain could not be read: where the wallet should be is not known. */
	| { kind: "failed"; wallet: number; error: Error }
	| { kind: "right"; wallet: number }
	| { kind: "wrong"; wallet: number; deployment: number };

export function networkOf(walletChain: number | null, d: Deployment): Network {
	if (walletChain === null) return { kind: "unknown" };
	if (d.state === "failed") return { kind: "failed", wallet: walletChain, error: d.error };
	if (d.state === "asking") return { kind: "unknown" };
	if (d.chainId === null) return { kind: "unchecked", wallet: walletChain };
	return d.chainId === walletChain
		? { kind: "right", wallet: walletChain }
		: { kind: "wrong", wallet: walletChain, deployment: d.chainId };
}

/** Whether the wallet may be read from for numbers to show: it is on the deployment's chain, or there is none to check. */
export const readsWallet = (n: Network): boolean => n.kind === "right" || n.kind === "unchecked";

/**
 * Whether numbers read through the wallet on `readOn` may be shown as the deployment's:
 * read on its chain (or the gateway names none). Data loaded before a switch carries the
 * chain it was read on, and is not shown once the wallet has moved.
 */
export const showsReadFrom = (n: Network, readOn: number): boolean =>
	(n.kind === "right" && n.wallet === readOn) || n.kind === "unchecked";

/** The connected wallet's network; asks the gateway for the deployment's chain once a wallet is connected. */
export function useNetwork(): Network {
	const wallet = useWallet();
	const current = deployment.use();
	const connected = wallet.address !== null;
	useEffect(() => {
		// The rejection is kept in the store (state "failed"), which the banner shows.
		if (connected) deploymentChainId().catch(() => {});
	}, [connected]);
	return connected ? networkOf(wallet.chainId, current) : { kind: "unknown" };
}

const CHAIN_NAMES: Record<number, string> = {
	1: "Ethereum",
	10: "OP Mainnet",
	137: "Polygon",
	8453: "Base",
	42161: "Arbitrum One",
	84532: "Base Sepolia",
	11155111: "Sepolia",
	31337: "the local development chain",
};

/** A chain in words: its name when well known, always its id (what a wallet's network settings show). */
export const chainName = (id: number) =>
	CHAIN_NAMES[id] ? `${CHAIN_NAMES[id]} (chain id ${id})` : `the network with chain id ${id}`;
