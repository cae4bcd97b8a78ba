import { useEffect } from "preact/hooks";
import {
	type Address,
	BaseError,
	type Chain,
	ChainMismatchError,
	type Client,
	ContractFunctionRevertedError,
	ContractFunctionZeroDataError,
	createClient,
	custom,
	defineChain,
	type Hash,
	parseEventLogs,
	type ReplacementReason,
	type TransactionReceipt,
	UserRejectedRequestError,
} from "viem";
import {
	getBlock,
	getChainId,
	readContract,
	signMessage,
	switchChain,
	waitForTransactionReceipt,
	writeContract,
} from "viem/actions";
import { createSiweMessage } from "viem/siwe";
import { localPacaAbi, modelSaleAbi, modelTokenAbi, revenueVaultAbi } from "../../../lib/chain/abis.ts";
import { formatAmount } from "../format.ts";
import { api } from "./api.ts";
import { chainName, deploymentChainId } from "./network.ts";
import { provider, providerErrorMessage, readWalletChain, requireAddress, saveSession, WalletProblem } from "./wallet.ts";

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

/**
 * Signs an EIP-4361 message for this site over a fresh nonce and exchanges it for a session.
 * The message names the deployment's chain, the only one the gateway takes: the wallet is
 * switched to it first, so the network the wallet shows is the one signed in to.
 */
export async function signInWithEthereum(): Promise<void> {
	const address = requireAddress();
	let expected: number | null;
	try {
		expected = await deploymentChainId();
	} catch (error) {
		throw new WalletProblem(
			`Could not read which network Modeldex runs on, so nothing was signed: ${providerErrorMessage(error)}`,
		);
	}
	let chainId: number;
	try {
		await ensureWalletChain(client(), expected, "Nothing was signed.");
		chainId = expected ?? (await getChainId(client()));
	} catch (error) {
		throw new WalletProblem(walletErrorMessage(error));
	}
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
		if (error.walk((e) => e instanceof ChainMismatchError)) {
			return "Your wallet changed network before sending: nothing was sent. Try again.";
		}
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

// ── The deployment's chain ──────────────────────────────────────────────────
// One deployer key gives the same contract addresses on every chain, so a wallet on a
// testnet where the team also deployed reads plausible numbers and would send real
// transactions there. Every write first makes sure the wallet is on the chain the gateway
// names (GET /v1/chain, network.ts).

/**
 * Makes sure the wallet is on `expected` before anything is sent: asks it to switch
 * (wallet_switchEthereumChain) when it is not, and throws a WalletProblem naming the
 * network when it will not. `expected` null (the gateway does not say): no check.
 */
export async function ensureWalletChain(c: Client, expected: number | null, nothingDone = "Nothing was sent."): Promise<void> {
	if (expected === null) return;
	const current = await getChainId(c);
	if (current === expected) return;
	const target = chainName(expected);
	try {
		await switchChain(c, { id: expected });
	} catch (error) {
		const declined = error instanceof BaseError && error.walk((e) => e instanceof UserRejectedRequestError);
		const unknown =
			(error as { code?: unknown }).code === 4902 ||
			(error instanceof BaseError && error.walk((e) => (e as { code?: unknown }).code === 4902));
		const why = declined
			? "you declined the switch"
			: unknown
				? "your wallet does not know that network yet: add it in the wallet"
				: walletErrorMessage(error).replace(/\.$/, "");
		throw new WalletProblem(
			`Switch your wallet to ${target}, where Modeldex runs: it is on ${chainName(current)} (${why}).${nothingDone ? ` ${nothingDone}` : ""}`,
		);
	}
	const now = await getChainId(c);
	if (now !== expected) {
		throw new WalletProblem(
			`Switch your wallet to ${target}, where Modeldex runs: it is still on ${chainName(now)}.${nothingDone ? ` ${nothingDone}` : ""}`,
		);
	}
}

/** The wrong-network banner's "Switch network": asks the wallet to move to the deployment's chain. */
export async function switchToDeploymentChain(): Promise<void> {
	try {
		await ensureWalletChain(client(), await deploymentChainId(), "");
	} catch (error) {
		throw new WalletProblem(walletErrorMessage(error));
	} finally {
		// For a wallet that moved without saying so (no chainChanged): the page follows it either way.
		await readWalletChain().catch(() => {});
	}
}

/**
 * The wallet is on the deployment's chain, whose id it returns (null: the gateway does not
 * name one, and nothing was checked); else a WalletProblem.
 */
async function onDeploymentChain(): Promise<number | null> {
	try {
		const expected = await deploymentChainId();
		await ensureWalletChain(client(), expected);
		return expected;
	} catch (error) {
		throw new WalletProblem(walletErrorMessage(error));
	}
}

/** What viem needs of a chain to check the wallet's again as it sends, and to put its id in the transaction. */
function chainOf(id: number): Chain {
	return defineChain({
		id,
		name: chainName(id),
		nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
		rpcUrls: { default: { http: [] } },
	});
}

type Write = Parameters<typeof writeContract>[1];

/** ERC-20 errors (ERC20InsufficientBalance, …) of the PACA and model tokens. */
const TOKEN_ERRORS = localPacaAbi.filter((item) => item.type === "error");

/**
 * Sends a contract write from the connected account, on the deployment's chain only, and
 * waits for it to be mined; resolves with its receipt. Failures become a WalletProblem.
 */
async function sendAndWait(write: Omit<Write, "account" | "chain">): Promise<TransactionReceipt> {
	const account = requireAddress();
	const chainId = await onDeploymentChain();
	try {
		const chain = chainId === null ? null : chainOf(chainId);
		// The tokens' errors too: a sale or the vault moving PACA reverts with the token's error, which
		// their own ABIs do not name (else the words are "reverted with the following signature: 0x…").
		const abi = [...write.abi, ...TOKEN_ERRORS];
		const hash = await writeContract(client(), { ...write, abi, account, chain } as Write);
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
		return receipt;
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

// Per chain: a token's address can hold another contract, or the same one with other
// wiring, on another network the wallet moves to.
const known = new Map<string, Promise<ModelContracts>>();

export async function contractsOf(token: Address, chainId?: number): Promise<ModelContracts> {
	const c = client();
	// The wallet's chain as read now (by the caller, or here): walletChainId() follows
	// chainChanged events, which can come after a switch has already resolved.
	const key = `${chainId ?? (await getChainId(c))}:${token.toLowerCase()}`;
	let found = known.get(key);
	if (!found) {
		found = Promise.all([
			readContract(c, { address: token, abi: modelTokenAbi, functionName: "sale" }),
			readContract(c, { address: token, abi: modelTokenAbi, functionName: "paca" }),
			readContract(c, { address: token, abi: modelTokenAbi, functionName: "vault" }),
		]).then(([sale, paca, vault]) => ({ token, sale, paca, vault }));
		found.catch(() => known.delete(key));
		known.set(key, found);
	}
	return found;
}

/** IModelSale.State, in its order. */
export const SALE_STATE = ["not started", "open", "sold out, graduating", "graduated"] as const;
export const SALE_OPEN = 1;

/** The account's stake in one model, with the chain it was read on (network.ts shows it only on the deployment's). */
export async function readHolding(token: Address, account: Address) {
	const c = client();
	const chainId = await getChainId(c);
	const { paca } = await contractsOf(token, chainId);
	const [balance, claimable, pacaBalance] = await Promise.all([
		readContract(c, { address: token, abi: modelTokenAbi, functionName: "balanceOf", args: [account] }),
		readContract(c, { address: token, abi: modelTokenAbi, functionName: "claimable", args: [account] }),
		readPacaBalance(paca, account),
	]);
	return { chainId, balance, claimable, pacaBalance };
}

/** The account's PACA, found through any model's token, with the chain it was read on. */
export async function readWalletPaca(anyToken: Address, account: Address) {
	const chainId = await getChainId(client());
	const { paca } = await contractsOf(anyToken, chainId);
	return { chainId, balance: await readPacaBalance(paca, account) };
}

function readPacaBalance(paca: Address, account: Address): Promise<bigint> {
	return readContract(client(), { address: paca, abi: localPacaAbi, functionName: "balanceOf", args: [account] });
}

export async function quote(token: Address, side: "buy" | "sell", amount: bigint) {
	const c = client();
	// The chain the price is read on: a trade sent on another (after a switch) must not use it.
	const chainId = await getChainId(c);
	const { sale } = await contractsOf(token, chainId);
	const state = await readContract(c, { address: sale, abi: modelSaleAbi, functionName: "state" });
	if (side === "buy") {
		const [out, paid, fee] = await readContract(c, {
			address: sale,
			abi: modelSaleAbi,
			functionName: "quoteBuy",
			args: [amount],
		});
		return { chainId, token, side, amount, state, out, paid, fee };
	}
	const [out, fee] = await readContract(c, { address: sale, abi: modelSaleAbi, functionName: "quoteSell", args: [amount] });
	return { chainId, token, side, amount, state, out, paid: amount, fee };
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
	/** The chain the quote that set minOut was read on. */
	quotedOn: number;
	onStep: (step: string) => void;
}) {
	// Before the allowance and deadline are read: on another chain they would be that chain's.
	const chainId = (await onDeploymentChain()) ?? (await getChainId(client()));
	// A switch just now means minOut came from the other network's price: too loose, or too tight.
	if (chainId !== opts.quotedOn) {
		throw new WalletProblem("Your wallet changed networks after the price was quoted: check the new price, then send again.");
	}
	const { sale, paca } = await contractsOf(opts.token, chainId);
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
		// No approval: the model's token lets its own sale pull the seller's tokens (ModelToken._spendAllowance).
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

/**
 * Claims the connected account's revenue from one model; resolves with the PACA it received,
 * in base units, as the token's Claimed event says (0 when there was nothing left: claim()
 * then emits none). Not the claimable read before: revenue drips by the second, so the
 * claim takes a little more than any earlier read.
 */
export async function claim(token: Address): Promise<bigint> {
	const account = requireAddress();
	const receipt = await sendAndWait({ address: token, abi: modelTokenAbi, functionName: "claim" });
	announceChainChange();
	const claimed = parseEventLogs({ abi: modelTokenAbi, eventName: "Claimed", logs: receipt.logs }).filter(
		(log) => log.address.toLowerCase() === token.toLowerCase() && log.args.account.toLowerCase() === account.toLowerCase(),
	);
	return claimed.reduce((sum, log) => sum + log.args.amount, 0n);
}

export async function deposit(opts: { token: Address; account: Address; amount: bigint; onStep: (s: string) => void }) {
	const chainId = (await onDeploymentChain()) ?? undefined;
	const { paca, vault } = await contractsOf(opts.token, chainId);
	// Before the approval: a deposit the balance cannot cover would fail only after it was paid for.
	const balance = await readPacaBalance(paca, opts.account);
	if (balance < opts.amount) throw new WalletProblem(`You have only ${formatAmount(balance)} PACA in this wallet.`);
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
