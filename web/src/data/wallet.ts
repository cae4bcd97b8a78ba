import type { Address, EIP1193Provider } from "viem";
import { ApiProblem } from "./api.ts";
import { store } from "./store.ts";

// The browser wallet (EIP-1193, `window.ethereum`) and the sign-in session, as one small
// store the pages subscribe to. This module is on every page, so it talks to the
// provider directly and imports nothing heavy; contract work lives in chain.ts, which
// the wallet features load on demand.

declare global {
	interface Window {
		ethereum?: EIP1193Provider;
	}
}

export interface WalletState {
	address: Address | null;
	chainId: number | null;
	connecting: boolean;
	/** Session token from Sign-In with Ethereum, for /v1/account routes. */
	session: string | null;
	sessionExpiresAt: number | null;
	/** Why the API account card asks to sign in again: the API stopped taking the session (null: signed out by hand, or never signed in). */
	sessionEnded: string | null;
}

const SESSION_KEY = "modeldex.session";
interface StoredSession {
	token: string;
	payer: string;
	expiresAt: number;
}

function storedSession(): StoredSession | null {
	try {
		const parsed = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? "null") as StoredSession | null;
		return parsed && parsed.expiresAt * 1000 > Date.now() ? parsed : null;
	} catch {
		return null;
	}
}

const wallet = store<WalletState>({
	address: null,
	chainId: null,
	connecting: false,
	session: null,
	sessionExpiresAt: null,
	sessionEnded: null,
});

function set(patch: Partial<WalletState>): void {
	wallet.set({ ...wallet.get(), ...patch });
}

export const useWallet = (): WalletState => wallet.use();

export const hasWallet = () => typeof window !== "undefined" && Boolean(window.ethereum);

export function provider(): EIP1193Provider {
	if (!window.ethereum)
		throw new WalletProblem("No browser wallet found. Install one (for example MetaMask or Rabby) and reload the page.");
	return window.ethereum;
}

function adoptAccount(accounts: readonly string[]): void {
	const address = accounts[0] && /^0x[0-9a-fA-F]{40}$/.test(accounts[0]) ? (accounts[0] as Address) : null;
	const saved = storedSession();
	const sessionMatches = saved && address && saved.payer.toLowerCase() === address.toLowerCase();
	const sameAccount = address !== null && address.toLowerCase() === wallet.get().address?.toLowerCase();
	set({
		address,
		session: sessionMatches ? saved.token : null,
		sessionExpiresAt: sessionMatches ? saved.expiresAt : null,
		// Another account's ended sign-in is not this one's.
		sessionEnded: sameAccount ? wallet.get().sessionEnded : null,
	});
}

let watching = false;
function watch(): void {
	if (watching || !window.ethereum) return;
	watching = true;
	window.ethereum.on?.("accountsChanged", (accounts: readonly string[]) => adoptAccount(accounts));
	window.ethereum.on?.("chainChanged", (chainId: string) => set({ chainId: Number(chainId) }));
}

/** Picks up an account the wallet already shares with this site, without a prompt. */
export async function restoreWallet(): Promise<void> {
	if (!window.ethereum) return;
	watch();
	try {
		const chainId = await window.ethereum.request({ method: "eth_chainId" });
		set({ chainId: Number(chainId) });
		adoptAccount(await window.ethereum.request({ method: "eth_accounts" }));
	} catch {
		// a wallet that will not answer yet; the Connect button asks again
	}
}

export async function connectWallet(): Promise<void> {
	set({ connecting: true });
	try {
		watch();
		const accounts = await provider().request({ method: "eth_requestAccounts" });
		set({ chainId: Number(await provider().request({ method: "eth_chainId" })) });
		adoptAccount(accounts);
		if (!wallet.get().address) throw new WalletProblem("The wallet shared no account with this site.");
	} catch (error) {
		throw new WalletProblem(providerErrorMessage(error));
	} finally {
		set({ connecting: false });
	}
}

/** The chain the wallet last said it is on (eth_chainId, chainChanged); null before it answered. */
export const walletChainId = (): number | null => wallet.get().chainId;

/** Asks the wallet where it is now (after a switch, for a wallet that sends no chainChanged). */
export async function readWalletChain(): Promise<void> {
	set({ chainId: Number(await provider().request({ method: "eth_chainId" })) });
}

export function requireAddress(): Address {
	const { address } = wallet.get();
	if (!address) throw new WalletProblem("Connect your wallet first.");
	return address;
}

export function saveSession(session: StoredSession): void {
	sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
	set({ session: session.token, sessionExpiresAt: session.expiresAt, sessionEnded: null });
}

export function signOut(ended: string | null = null): void {
	sessionStorage.removeItem(SESSION_KEY);
	set({ session: null, sessionExpiresAt: null, sessionEnded: ended });
}

/**
 * An expired or rejected session: forget it so the page offers to sign in again, and say
 * why (the card would otherwise just turn back into "Sign in" with no word).
 */
export function dropSessionIf(error: unknown): void {
	if (error instanceof ApiProblem && error.status === 401 && wallet.get().session !== null) {
		signOut(
			"Your sign-in has ended: it expired, or the Modeldex API no longer accepts it. Sign in again to see your credit and API keys.",
		);
	}
}

export class WalletProblem extends Error {}

/** EIP-1193 provider errors (EIP-1193 and EIP-1474 codes) in plain words. */
export function providerErrorMessage(error: unknown): string {
	if (error instanceof WalletProblem || error instanceof ApiProblem) return error.message;
	const code = (error as { code?: number } | null)?.code;
	if (code === 4001) return "You declined the request in your wallet.";
	if (code === 4100) return "The wallet has not given this site access to the account. Connect it again.";
	if (code === 4900 || code === 4901) return "The wallet is not connected to a network. Check it and try again.";
	if (code === -32002) return "The wallet is already asking you something: open it and answer that first.";
	return error instanceof Error && error.message ? error.message : "The wallet reported an error.";
}
