import { useEffect } from "preact/hooks";
import {
	type Address,
	BaseError,
	type Client,
	ContractFunctionRevertedError,
	ContractFunctionZeroDataError,
	createClient,
	custom,
	type Hash,
	type ReplacementReason,
	UserRejectedRequestError,
} from "viem";
import { getBlock, getChainId, readContract, signMessage, waitForTransactionReceipt, writeContract } from "viem/actions";
import { createSiweMessage } from "viem/siwe";
import { localPacaAbi, modelSaleAbi, modelTokenAbi, revenueVaultAbi } from "../../../lib/chain/abis.ts";
import { api } from "./api.ts";
import { provider, providerErrorMessage, requireAddress, saveSession, WalletProblem } from "./wallet.ts";

// Contract reads and writes, sign-in, and wallet errors in words: everything that
// needs viem's heavier parts, loaded only with the wallet features (pages/trade.tsx,
// pages/wallet.tsx). Reads go through the wallet's own provider, so the dashboard
// needs no RPC URL. A model's token knows its sale, PACA and vault, so one token
// address (from /v1/models) is all it needs to find the rest.

// A bare client with tree-shaken actions: createPublicClient/createWalletClient would
// bundle every action viem has.
let cached: { client: Client; provider: unknown } | null = null;
function client(): Client {
	const current = provider();
	if (cached?.provider !== current)
		cached = { client: createClient({ transport: custom(current), pollingInterval: 500 }), provider: current };
	return cached.client;
}

/** Signs an EIP-4361 message for this site over a fresh nonce and exchanges it for a session. */
export async function signInWithEthereum(): Promise<void> {
	const address = requireAddress();
	const chainId = await getChainId(client());
	const nonce = await api.nonce();
	const message = createSiweMessage({
		domain: location.host,
		address,
		uri: location.origin,
		version: "1",
		chainId,
		nonce,
		statement: "Sign in to Modeldex to manage your API keys and credit.",
		issuedAt: new Date(),
	});
	let signature: Hash;
	try {
		signature = await signMessage(client(), { account: address, message });
	} catch (error) {
		throw new WalletProblem(walletErrorMessage(error));
	}
	const session = await api.verify(message, signature);
	saveSession({ token: session.token, payer: session.payer, expiresAt: session.expires_at });
}

/** A wallet or contract failure in plain words. */
export function walletErrorMessage(error: unknown): string {
	if (error instanceof BaseError) {
		if (error.walk((e) => e instanceof UserRejectedRequestError)) return "You declined the request in your wallet.";
		const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
		if (reverted instanceof ContractFunctionRevertedError) {
			const name = reverted.data?.errorName;
			if (name) return `The contract refused: ${REVERT_WORDS[name] ?? name}.`;
			if (reverted.reason) return `The contract refused: ${reverted.reason}.`;
		}
		if (error.walk((e) => e instanceof ContractFunctionZeroDataError)) {
			return "Nothing answers at this model's contract on your wallet's network. Switch the wallet to the network Modeldex runs on.";
		}
		if (/insufficient funds/i.test(error.message)) return "Your wallet does not have enough ETH to pay for gas.";
		return error.shortMessage;
	}
	return providerErrorMessage(error);
}

const REVERT_WORDS: Record<string, string> = {
	SlippageExceeded: "the price moved more than your slippage allows; try again or raise the slippage",
	DeadlineExpired: "the transaction waited too long and expired; send it again",
	SaleNotOpen: "this IMO is not open for trading any more",
	ZeroAmount: "the amount is too small",
	ERC20InsufficientBalance: "your balance is too low for this",
	ERC20InsufficientAllowance: "the contract was not allowed to move that much of your tokens",
	EnforcedPause: "the vault is paused",
	GraduationOutOfGas: "not enough gas was given to complete the graduation; send it again with more gas",
};

type Write = Parameters<typeof writeContract>[1];

/** Sends a contract write from the connected account and waits for it to be mined; failures become a WalletProblem. */
async function sendAndWait(write: Omit<Write, "account" | "chain">): Promise<Hash> {
	const account = requireAddress();
	try {
		const hash = await writeContract(client(), { ...write, account, chain: null } as Write);
		// A wallet's "Cancel" or "Speed up" sends another transaction with the same nonce, and
		// the wait resolves with that one's receipt: a cancel (a 0-value self-transfer) succeeds
		// too. Only a repriced copy of the same call did what was asked.
		let replaced = null as ReplacementReason | null; // set in the callback, which TypeScript does not follow
		const receipt = await waitForTransactionReceipt(client(), {
			hash,
			pollingInterval: 500,
			onReplaced: (replacement) => {
				replaced = replacement.reason;
			},
		});
		if (replaced === "cancelled") throw new WalletProblem("The transaction was cancelled in your wallet: nothing was done.");
		if (replaced === "replaced")
			throw new WalletProblem("Your wallet replaced the transaction with a different one: this one was not done.");
		if (receipt.status !== "success") throw new WalletProblem("The transaction was mined but failed (reverted).");
		return hash;
	} catch (error) {
		throw new WalletProblem(walletErrorMessage(error));
	}
}

export interface ModelContracts {
	token: Address;
	sale: Address;
	paca: Address;
	vault: Address;
}

const known = new Map<string, Promise<ModelContracts>>();

export function contractsOf(token: Address): Promise<ModelContracts> {
	let found = known.get(token);
	if (!found) {
		const c = client();
		found = Promise.all([
			readContract(c, { address: token, abi: modelTokenAbi, functionName: "sale" }),
			readContract(c, { address: token, abi: modelTokenAbi, functionName: "paca" }),
			readContract(c, { address: token, abi: modelTokenAbi, functionName: "vault" }),
		]).then(([sale, paca, vault]) => ({ token, sale, paca, vault }));
		found.catch(() => known.delete(token));
		known.set(token, found);
	}
	return found;
}

/** IModelSale.State, in its order. */
export const SALE_STATE = ["not started", "open", "sold out, graduating", "graduated"] as const;
export const SALE_OPEN = 1;

export async function readHolding(token: Address, account: Address) {
	const { paca } = await contractsOf(token);
	const c = client();
	const [balance, claimable, pacaBalance] = await Promise.all([
		readContract(c, { address: token, abi: modelTokenAbi, functionName: "balanceOf", args: [account] }),
		readContract(c, { address: token, abi: modelTokenAbi, functionName: "claimable", args: [account] }),
		readPacaBalance(paca, account),
	]);
	return { balance, claimable, pacaBalance };
}

export function readPacaBalance(paca: Address, account: Address): Promise<bigint> {
	return readContract(client(), { address: paca, abi: localPacaAbi, functionName: "balanceOf", args: [account] });
}

export async function quote(token: Address, side: "buy" | "sell", amount: bigint) {
	const { sale } = await contractsOf(token);
	const c = client();
	const state = await readContract(c, { address: sale, abi: modelSaleAbi, functionName: "state" });
	if (side === "buy") {
		const [out, paid, fee] = await readContract(c, {
			address: sale,
			abi: modelSaleAbi,
			functionName: "quoteBuy",
			args: [amount],
		});
		return { token, side, amount, state, out, paid, fee };
	}
	const [out, fee] = await readContract(c, { address: sale, abi: modelSaleAbi, functionName: "quoteSell", args: [amount] });
	return { token, side, amount, state, out, paid: amount, fee };
}

/** A curve quote, with the inputs it was computed for. */
export type Quote = Awaited<ReturnType<typeof quote>>;

/**
 * The quote to trade on: one computed for exactly the token, side and amount on screen,
 * and none while a new one loads. The previous amount's quote, or the other side's (its
 * `out` in the other unit), would set minOut and the confirmation from numbers that no
 * longer apply.
 */
export function quoteToTrade(
	q: { data: Quote | null | undefined; loading: boolean },
	token: Address | undefined,
	side: "buy" | "sell",
	amount: bigint | null,
): Quote | null {
	const current = q.data;
	if (q.loading || !current || amount === null) return null;
	return current.token === token && current.side === side && current.amount === amount ? current : null;
}

/** Approves `spender` for exactly `amount` of `asset` when the allowance is short. */
async function ensureAllowance(asset: Address, owner: Address, spender: Address, amount: bigint, onStep: (s: string) => void) {
	const allowance = await readContract(client(), {
		address: asset,
		abi: localPacaAbi,
		functionName: "allowance",
		args: [owner, spender],
	});
	if (allowance >= amount) return;
	onStep("Approve the amount in your wallet…");
	await sendAndWait({ address: asset, abi: localPacaAbi, functionName: "approve", args: [spender, amount] });
}

/**
 * Twenty minutes from now by the chain's clock, not the computer's: a deadline from a
 * clock that runs behind the chain would expire before the transaction is even sent.
 */
async function deadline(): Promise<bigint> {
	const latest = await getBlock(client(), { blockTag: "latest" });
	const computer = BigInt(Math.floor(Date.now() / 1000));
	return (latest.timestamp > computer ? latest.timestamp : computer) + 20n * 60n;
}

export async function trade(opts: {
	token: Address;
	account: Address;
	side: "buy" | "sell";
	amount: bigint;
	minOut: bigint;
	onStep: (step: string) => void;
}) {
	const { sale, paca } = await contractsOf(opts.token);
	const { account, amount, minOut, onStep } = opts;
	if (opts.side === "buy") {
		await ensureAllowance(paca, account, sale, amount, onStep);
		onStep("Confirm the purchase in your wallet…");
		await sendAndWait({
			address: sale,
			abi: modelSaleAbi,
			functionName: "buy",
			args: [amount, minOut, account, await deadline()],
		});
	} else {
		await ensureAllowance(opts.token, account, sale, amount, onStep);
		onStep("Confirm the sale in your wallet…");
		await sendAndWait({
			address: sale,
			abi: modelSaleAbi,
			functionName: "sell",
			args: [amount, minOut, account, await deadline()],
		});
	}
	announceChainChange();
}

export async function claim(token: Address) {
	await sendAndWait({ address: token, abi: modelTokenAbi, functionName: "claim" });
	announceChainChange();
}

export async function deposit(opts: { token: Address; account: Address; amount: bigint; onStep: (s: string) => void }) {
	const { paca, vault } = await contractsOf(opts.token);
	await ensureAllowance(paca, opts.account, vault, opts.amount, opts.onStep);
	opts.onStep("Confirm the deposit in your wallet…");
	await sendAndWait({ address: vault, abi: revenueVaultAbi, functionName: "deposit", args: [opts.account, opts.amount] });
	announceChainChange();
}

// Panels that show chain state reload when any of them changes it.
const CHAIN_CHANGED = "modeldex:chain-changed";
export const announceChainChange = () => dispatchEvent(new Event(CHAIN_CHANGED));
export function useOnChainChange(reload: () => void) {
	useEffect(() => {
		addEventListener(CHAIN_CHANGED, reload);
		return () => removeEventListener(CHAIN_CHANGED, reload);
	}, [reload]);
}
