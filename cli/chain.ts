// The chain side: viem clients, the deployed addresses, transactions with progress, and
// reverts turned into sentences that say what to do next.
import { existsSync, readFileSync } from "node:fs";
import {
	type Abi,
	type Address,
	BaseError,
	type Chain,
	ContractFunctionRevertedError,
	createPublicClient,
	createWalletClient,
	decodeEventLog,
	defineChain,
	getAddress,
	type Hex,
	HttpRequestError,
	http,
	InsufficientFundsError,
	isAddress,
	type PrivateKeyAccount,
	type PublicClient,
	TimeoutError,
	type TransactionReceipt,
	type Transport,
	type WalletClient,
} from "viem";
import { localPacaAbi, modelFactoryAbi, modelSaleAbi, modelTokenAbi, revenueVaultAbi } from "../lib/chain/abis.ts";
import { formatPaca } from "../lib/money.ts";
import type { Addresses } from "../scripts/deploy-contracts.ts";
import { type Config, isLocalUrl, loadWallet, type Wallet } from "./config.ts";
import { CliError, isConnectionError } from "./errors.ts";
import { type ApiModel, Gateway, modelPath } from "./gateway.ts";
import type { Output } from "./output.ts";

export type { Addresses };

type AbiError = Extract<Abi[number], { type: "error" }>;

export interface ChainContext {
	config: Config;
	out: Output;
	chain: Chain;
	publicClient: PublicClient<Transport, Chain>;
	addresses: Addresses;
	local: boolean;
}

export interface SignerContext extends ChainContext {
	wallet: Wallet;
	account: PrivateKeyAccount;
	walletClient: WalletClient<Transport, Chain, PrivateKeyAccount>;
}

function unreachableChain(config: Config, error: unknown, note?: string): CliError {
	return new CliError("chain_unreachable", `Cannot reach the chain RPC at ${config.rpcUrl}.${note ? ` ${note}` : ""}`, {
		hint: isLocalUrl(config.rpcUrl)
			? "Start the local stack (`npm start`, or `npx anvil` and deploy with `node scripts/deploy-contracts.ts`), or point --rpc / MODELDEX_RPC_URL at a node."
			: "Check the URL given to --rpc / MODELDEX_RPC_URL and your connection.",
		cause: error,
	});
}

export function readAddressesFile(config: Config): Addresses {
	const file = config.addressesFile;
	if (!existsSync(file)) {
		throw new CliError("no_addresses", `No contract addresses at ${file}.`, {
			hint:
				"Deploy the contracts (`node scripts/deploy-contracts.ts` writes that file; `npm start` does it for the local stack),\n" +
				"or point --addresses / MODELDEX_ADDRESSES at the addresses file of the chain you use.",
		});
	}
	let parsed: Partial<Addresses>;
	try {
		parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<Addresses>;
	} catch (error) {
		throw new CliError("bad_addresses", `${file} is not valid JSON (${(error as Error).message}).`, {
			hint: "Redeploy with `node scripts/deploy-contracts.ts`, or fix the file.",
		});
	}
	for (const key of ["chainId", "paca", "revenueVault", "modelFactory", "uniswapV2Router02"] as const) {
		if (parsed[key] === undefined || parsed[key] === null) {
			throw new CliError("bad_addresses", `${file} has no '${key}'.`, {
				hint: "It should be the file `node scripts/deploy-contracts.ts` writes; redeploy or fix it.",
			});
		}
	}
	return parsed as Addresses;
}

/** Clients for the configured RPC, checked against the chain id and the addresses file. */
export async function connectChain(config: Config, out: Output): Promise<ChainContext> {
	const local = isLocalUrl(config.rpcUrl);
	const probe = createPublicClient({ transport: http(config.rpcUrl, { retryCount: 0, timeout: 15_000 }) });
	let chainId: number;
	try {
		chainId = await probe.getChainId();
	} catch (error) {
		throw unreachableChain(config, error);
	}
	if (config.chainId !== undefined && config.chainId !== chainId) {
		throw new CliError("wrong_chain", `The RPC at ${config.rpcUrl} is chain ${chainId}, not ${config.chainId}.`, {
			hint: "Point --rpc / MODELDEX_RPC_URL at the right node, or fix --chain-id / MODELDEX_CHAIN_ID.",
		});
	}
	const addresses = readAddressesFile(config);
	if (addresses.chainId !== chainId) {
		throw new CliError(
			"wrong_chain",
			`${config.addressesFile} is for chain ${addresses.chainId}, but the RPC at ${config.rpcUrl} is chain ${chainId}.`,
			{ hint: "Use the addresses file of this chain (--addresses / MODELDEX_ADDRESSES), or the RPC of that one (--rpc)." },
		);
	}
	const chain = defineChain({
		id: chainId,
		name: `chain-${chainId}`,
		nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
		rpcUrls: { default: { http: [config.rpcUrl] } },
	});
	const publicClient = createPublicClient({
		chain,
		transport: http(config.rpcUrl, { timeout: 30_000 }),
		pollingInterval: local ? 100 : 2_000,
	});
	const code = await publicClient.getCode({ address: addresses.modelFactory }).catch((error: unknown) => {
		throw unreachableChain(config, error);
	});
	if (!code || code === "0x") {
		throw new CliError(
			"stale_addresses",
			`There is no ModelFactory at ${addresses.modelFactory} on chain ${chainId}: ${config.addressesFile} does not match this chain's state.`,
			{
				hint: local
					? "The local chain was probably restarted: redeploy (`node scripts/deploy-contracts.ts`, or restart `npm start`)."
					: "Use the addresses file written when these contracts were deployed (--addresses).",
			},
		);
	}
	return { config, out, chain, publicClient, addresses, local };
}

export async function connectSigner(config: Config, out: Output): Promise<SignerContext> {
	const ctx = await connectChain(config, out);
	const wallet = loadWallet(config);
	if (wallet.created) out.info(`Created a development wallet ${wallet.account.address} in ${wallet.source} (local chains only).`);
	const walletClient = createWalletClient({
		account: wallet.account,
		chain: ctx.chain,
		transport: http(config.rpcUrl, { timeout: 30_000 }),
		pollingInterval: ctx.local ? 100 : 2_000,
	});
	return { ...ctx, wallet, account: wallet.account, walletClient };
}

/** The RPC did not answer (refused, reset, timed out, an HTTP error status), as opposed to answering with an error. */
function isTransportError(error: unknown): boolean {
	if (isConnectionError(error)) return true;
	return error instanceof BaseError && error.walk((e) => e instanceof HttpRequestError || e instanceof TimeoutError) !== null;
}

/**
 * An RPC failure that no command explained (a read outside its own error handling, when the node
 * went away or timed out): an operational error, not a bug. It says whether this run had sent
 * anything before, so the user knows whether running the command again could do something twice.
 * (Not a send itself: sendTransaction explains those, and never lets one through unexplained.)
 */
export function explainRpcFailure(config: Config, error: unknown): CliError | null {
	if (!(error instanceof BaseError) || !isTransportError(error)) return null;
	const note = sentThisRun.length
		? `Before that, it sent ${sentThisRun.join(", ")}: check ${sentThisRun.length > 1 ? "them" : "it"} before running the command again.`
		: "Nothing was sent.";
	return unreachableChain(config, error, note);
}

// ── Transactions ────────────────────────────────────────────────────────────

/** Every transaction this run has sent, for an error that comes after them. */
const sentThisRun: Hex[] = [];

/** Every custom error of the project's ABIs, so a revert from any contract in a call decodes by name. */
const ALL_ERRORS: AbiError[] = (() => {
	const seen = new Set<string>();
	const errors: AbiError[] = [];
	for (const abi of [modelFactoryAbi, modelSaleAbi, modelTokenAbi, revenueVaultAbi, localPacaAbi] as readonly Abi[]) {
		for (const item of abi) {
			if (item.type !== "error") continue;
			const selector = `${item.name}(${item.inputs.map((i) => i.type).join(",")})`;
			if (seen.has(selector)) continue;
			seen.add(selector);
			errors.push(item);
		}
	}
	return errors;
})();

export interface Call {
	address: Address;
	abi: Abi;
	functionName: string;
	args?: readonly unknown[];
}

/**
 * Simulates (so a revert is explained before anything is signed), sends, and waits for the
 * receipt, showing progress. Returns the receipt of a successful transaction.
 */
export async function sendTransaction(ctx: SignerContext, label: string, call: Call): Promise<TransactionReceipt> {
	const step = ctx.out.step(label);
	let sent: Hex | undefined;
	try {
		const abi = [...call.abi, ...ALL_ERRORS] as Abi;
		step.update("simulating", true);
		const { request } = await ctx.publicClient.simulateContract({
			address: call.address,
			abi,
			functionName: call.functionName,
			args: call.args ?? [],
			account: ctx.account,
		} as never);
		step.update("signing", true);
		const hash = await ctx.walletClient.writeContract(request as never);
		sent = hash;
		sentThisRun.push(hash);
		step.update(`sent ${hash}, waiting for it to be mined`);
		const receipt = await ctx.publicClient.waitForTransactionReceipt({ hash, timeout: ctx.local ? 60_000 : 600_000 });
		if (receipt.status !== "success") {
			throw new CliError("transaction_reverted", `The transaction ${hash} reverted on chain.`, {
				hint: "The chain's state changed between the check and the transaction; run the command again.",
			});
		}
		step.done(`block ${receipt.blockNumber}, tx ${hash}`);
		return receipt;
	} catch (error) {
		let explained = explainChainError(ctx, error);
		if (sent !== undefined && explained.code !== "transaction_reverted") {
			// Sent, then the wait failed (the RPC went away, a timeout): the transaction may still be
			// mined, and running the command again could do it twice.
			explained = new CliError(
				"transaction_status_unknown",
				`The transaction ${sent} was sent, but whether it was mined could not be read: ${explained.message}`,
				{ hint: `Check ${sent} (a block explorer, or \`cast receipt ${sent}\`) before running the command again.`, cause: error },
			);
		}
		step.fail();
		throw explained;
	}
}

interface RevertInfo {
	name: string;
	args: readonly unknown[];
	reason: string | undefined;
}

function findRevert(error: unknown): RevertInfo | null {
	if (!(error instanceof BaseError)) return null;
	const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
	if (!(reverted instanceof ContractFunctionRevertedError)) return null;
	return {
		name: reverted.data?.errorName ?? (reverted.reason ? "Error" : "unknown"),
		args: (reverted.data?.args as readonly unknown[] | undefined) ?? [],
		reason: reverted.reason,
	};
}

const amount = (v: unknown) => (typeof v === "bigint" ? formatPaca(v) : String(v));

export function explainChainError(ctx: ChainContext | SignerContext, error: unknown): CliError {
	if (error instanceof CliError) return error;
	const faucetHint = ctx.addresses.pacaIsLocalStandIn
		? "On the local stack, `modeldex faucet` gives your wallet ETH for gas and PACA."
		: undefined;
	if (error instanceof BaseError && error.walk((e) => e instanceof InsufficientFundsError)) {
		const who = "account" in ctx ? ` ${ctx.account.address}` : "";
		return new CliError("insufficient_gas_funds", `Your wallet${who} has too little ETH to pay for gas.`, {
			hint: faucetHint ?? `Send ETH for gas to${who}.`,
		});
	}
	const revert = findRevert(error);
	if (revert) {
		const [a, b] = revert.args;
		const known: Record<string, [string, string | undefined]> = {
			SlippageExceeded: [
				`The price moved: the trade would give ${amount(a)}, below your minimum of ${amount(b)}.`,
				"Run it again, or allow more slippage with --slippage <percent>.",
			],
			DeadlineExpired: [
				"The transaction's deadline passed before it was mined.",
				"Run it again, or give it longer with --deadline <seconds>.",
			],
			SaleNotOpen: ["This model's sale is not open for trading on the curve.", "Run `modeldex models` to see its IMO status."],
			InsufficientCurveLiquidity: [
				`The curve has sold only ${amount(b)} tokens, so it cannot buy back ${amount(a)}.`,
				`Sell at most ${amount(b)} on the curve now, or the rest after the model graduates to its Uniswap pool.`,
			],
			GraduationOutOfGas: [
				"The buy that closes the curve did not carry enough gas to graduate.",
				"Run it again; the CLI estimates gas afresh.",
			],
			ModelAlreadyTokenized: [
				`This repo and revision are already tokenized as ${String(b)}.`,
				`Buy it with \`modeldex buy ${String(b)} <amount>\`, or tokenize another revision (<repo>@<revision>).`,
			],
			EmptyRepoIdOrRevision: ["The repo id and the revision must not be empty.", undefined],
			ERC20InsufficientBalance: [
				`Balance too low: it holds ${amount(b)}, the transaction needs ${amount(revert.args[2])}.`,
				faucetHint ?? "Top up the wallet, or use a smaller amount.",
			],
			ERC20InsufficientAllowance: [
				`Allowance too low: ${amount(b)} approved, ${amount(revert.args[2])} needed.`,
				"Run the command again; it approves what it needs.",
			],
			EnforcedPause: ["The RevenueVault is paused by its guardian.", "Try again once the operator unpauses it."],
			AccessControlUnauthorizedAccount: [
				`${String(a)} does not have the role this call needs.`,
				"Use a key that holds the role.",
			],
			InsufficientEscrow: [
				`The vault's escrow cannot cover this: ${amount(a)} asked, ${amount(b)} available.`,
				"Ask for a smaller amount.",
			],
			ZeroAmount: ["The amount must be greater than 0.", undefined],
			UnknownModel: [
				`${String(a)} is not a registered Modeldex model.`,
				"Run `modeldex models` for the model ids and token addresses.",
			],
			FaucetLimitExceeded: [`The local faucet gives at most ${amount(b)} PACA per call.`, "Ask for less."],
			TransferToPairBeforeLaunch: ["The token cannot go to its Uniswap pair before the model graduates.", undefined],
		};
		const entry = known[revert.name];
		if (entry) return new CliError(`revert_${revert.name}`, entry[0], { hint: entry[1], cause: error });
		const reason = revert.reason ?? "";
		if (/INSUFFICIENT_OUTPUT_AMOUNT/.test(reason)) {
			return new CliError("revert_SlippageExceeded", "The pool's price moved below your minimum.", {
				hint: "Run it again, or allow more slippage with --slippage <percent>.",
				cause: error,
			});
		}
		if (/EXPIRED/.test(reason)) {
			return new CliError("revert_DeadlineExpired", "The transaction's deadline passed before it was mined.", {
				hint: "Run it again, or give it longer with --deadline <seconds>.",
				cause: error,
			});
		}
		const args = revert.args.length ? `(${revert.args.map((x) => String(x)).join(", ")})` : "";
		return new CliError("transaction_reverted", `The contract refused the call: ${revert.reason ?? `${revert.name}${args}`}.`, {
			cause: error,
		});
	}
	if (isTransportError(error)) return unreachableChain(ctx.config, error);
	const message = error instanceof BaseError ? error.shortMessage : error instanceof Error ? error.message : String(error);
	return new CliError("chain_error", message, { cause: error });
}

/** Decoded events of `abi` in a receipt. */
export function eventsOf(
	receipt: TransactionReceipt,
	abi: Abi,
): Array<{ eventName: string; args: Record<string, unknown>; address: Address }> {
	const found: Array<{ eventName: string; args: Record<string, unknown>; address: Address }> = [];
	for (const log of receipt.logs) {
		try {
			const decoded = decodeEventLog({ abi, data: log.data, topics: log.topics }) as unknown as {
				eventName: string;
				args: Record<string, unknown>;
			};
			found.push({ ...decoded, address: log.address });
		} catch {
			// another contract's event
		}
	}
	return found;
}

/** A deadline `seconds` after the chain's latest block (not the local clock: test chains travel in time). */
export async function deadlineIn(ctx: ChainContext, seconds: number): Promise<bigint> {
	const block = await ctx.publicClient.getBlock({ blockTag: "latest" });
	const now = BigInt(Math.floor(Date.now() / 1000));
	const base = block.timestamp > now ? block.timestamp : now;
	return base + BigInt(seconds);
}

/** Approves `spender` for `amount` of `token` when the allowance is lower (exactly what is needed, never unlimited). */
export async function ensureAllowance(
	ctx: SignerContext,
	token: Address,
	spender: Address,
	needed: bigint,
	what: string,
): Promise<void> {
	const allowance = await ctx.publicClient.readContract({
		address: token,
		abi: modelTokenAbi,
		functionName: "allowance",
		args: [ctx.account.address, spender],
	});
	if (allowance >= needed) return;
	await sendTransaction(ctx, `Approving ${what}`, {
		address: token,
		abi: modelTokenAbi as Abi,
		functionName: "approve",
		args: [spender, needed],
	});
}

// ── Models ──────────────────────────────────────────────────────────────────

export interface ResolvedModel {
	/** The gateway's model id, when the model was named by it. */
	id: string | null;
	token: Address;
	sale: Address;
	name: string;
	symbol: string;
	creator: Address;
}

/** `<model>`: a token address, or a gateway model id ("org/name") resolved via GET /v1/models/{id}. */
export async function resolveModel(ctx: ChainContext, ref: string): Promise<ResolvedModel> {
	let id: string | null = null;
	let token: Address;
	if (isAddress(ref, { strict: false })) {
		token = getAddress(ref);
	} else {
		id = ref;
		const gateway = new Gateway(ctx.config.gatewayUrl);
		let model: ApiModel;
		try {
			model = await gateway.request<ApiModel>("GET", `/v1/models/${modelPath(ref)}`, {
				hint: (e) =>
					e.status === 404
						? "Run `modeldex models` for the model ids, or pass the model's token address (0x...) instead."
						: undefined,
			});
		} catch (error) {
			if (error instanceof CliError && error.code === "gateway_unreachable") {
				throw new CliError(error.code, `${error.message} It is needed to look up the model '${ref}'.`, {
					hint: `${error.hint} Or pass the model's token address (0x...) instead of its id.`,
				});
			}
			throw error;
		}
		if (!model.token) {
			throw new CliError("model_not_tokenized", `The model '${ref}' has no token on chain yet.`, {
				hint: model.huggingface
					? `Tokenize it with \`modeldex tokenize ${model.huggingface.repo}${model.huggingface.revision ? `@${model.huggingface.revision}` : ""}\`.`
					: "Tokenize it with `modeldex tokenize <hf-repo>`.",
			});
		}
		token = getAddress(model.token.address);
	}
	const isModel = await ctx.publicClient
		.readContract({ address: ctx.addresses.modelFactory, abi: modelFactoryAbi, functionName: "isModel", args: [token] })
		.catch((error: unknown) => {
			throw explainChainError(ctx, error);
		});
	if (!isModel) {
		throw new CliError("not_a_model", `${token} is not a model token of the ModelFactory at ${ctx.addresses.modelFactory}.`, {
			hint: id
				? `The gateway and ${ctx.config.addressesFile} disagree: check that both point at the same deployment.`
				: "Run `modeldex models` for the models and their token addresses.",
		});
	}
	const base = { address: token, abi: modelTokenAbi } as const;
	const [sale, name, symbol, creator] = await Promise.all([
		ctx.publicClient.readContract({ ...base, functionName: "sale" }),
		ctx.publicClient.readContract({ ...base, functionName: "name" }),
		ctx.publicClient.readContract({ ...base, functionName: "symbol" }),
		ctx.publicClient.readContract({ ...base, functionName: "creator" }),
	]);
	return { id, token, sale, name, symbol, creator };
}

export const SALE_STATES = ["uninitialized", "open", "closed", "graduated"] as const;
