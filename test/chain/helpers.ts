import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import {
	type Address,
	BaseError,
	type Chain,
	ContractFunctionRevertedError,
	createPublicClient,
	createTestClient,
	createWalletClient,
	defineChain,
	getAddress,
	type Hex,
	http,
	parseEther,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { localPacaAbi, modelFactoryAbi, modelSaleAbi, revenueVaultAbi } from "../../lib/chain/abis.ts";
import { hashApiKey } from "../../lib/keys.ts";
import { Ledgers } from "../../workers/gateway/ledgers.ts";
import { issueSession } from "../../workers/gateway/session.ts";
import indexer from "../../workers/indexer/index.ts";
import settler from "../../workers/settler/index.ts";
import type { ChainFixture, Deployment } from "./fixture.ts";

declare global {
	namespace Cloudflare {
		interface Env {
			/** JSON of a ChainFixture. */
			TEST_CHAIN: string;
		}
	}
}

export const fixture = (): ChainFixture => JSON.parse(env.TEST_CHAIN) as ChainFixture;

export interface Net {
	rpcUrl: string;
	chainId: number;
	addresses: Deployment;
}

/** A deployment on the shared anvil node, by scenario name (see test/node/anvil-setup.ts). */
export function deployment(name: string): Net {
	const f = fixture();
	const addresses = f.deployments[name];
	if (!addresses) throw new Error(`no deployment '${name}'`);
	return { rpcUrl: f.rpcUrl, chainId: f.chainId, addresses };
}

/** A deployment on an anvil node of its own (see test/node/anvil-setup.ts). */
export function isolatedNet(name: string): Net {
	const node = fixture().isolated[name];
	if (!node) throw new Error(`no isolated node '${name}'`);
	return node;
}

function chainOf(net: Net): Chain {
	return defineChain({
		id: net.chainId,
		name: `anvil-${net.chainId}`,
		nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
		rpcUrls: { default: { http: [net.rpcUrl] } },
	});
}

export function publicClient(net: Net) {
	return createPublicClient({ chain: chainOf(net), transport: http(net.rpcUrl) });
}

export function testClient(net: Net) {
	return createTestClient({ mode: "anvil", chain: chainOf(net), transport: http(net.rpcUrl) });
}

export function walletFor(net: Net, key: Hex) {
	return createWalletClient({ account: privateKeyToAccount(key), chain: chainOf(net), transport: http(net.rpcUrl) });
}

/** A fresh funded account (ETH for gas, `paca` PACA from the local stand-in's faucet). */
export async function newAccount(net: Net, paca = parseEther("1000")) {
	const key = generatePrivateKey();
	const wallet = walletFor(net, key);
	await testClient(net).setBalance({ address: wallet.account.address, value: parseEther("100") });
	if (paca > 0n) {
		await send(net, wallet, {
			address: net.addresses.paca,
			abi: localPacaAbi,
			functionName: "faucet",
			args: [wallet.account.address, paca],
		});
	}
	return { key, wallet, address: wallet.account.address.toLowerCase() as Address };
}

/** The PACA balance of `address` on `net`. */
export async function pacaOf(net: Net, address: string) {
	return publicClient(net).readContract({
		address: net.addresses.paca,
		abi: localPacaAbi,
		functionName: "balanceOf",
		args: [getAddress(address)],
	});
}

type Wallet = ReturnType<typeof walletFor>;

/**
 * Sends a contract call and waits for a successful receipt. A revert is replayed on the state
 * before its block (anvil mines one transaction per block), so the error says why.
 */
export async function send(net: Net, wallet: Wallet, call: Parameters<Wallet["writeContract"]>[0] | Record<string, unknown>) {
	const hash = await wallet.writeContract(call as Parameters<Wallet["writeContract"]>[0]);
	const client = publicClient(net);
	const receipt = await client.waitForTransactionReceipt({ hash });
	if (receipt.status === "success") return receipt;
	const why = await client
		.simulateContract({ ...(call as object), account: wallet.account, blockNumber: receipt.blockNumber - 1n } as never)
		.then(
			() => `replayed without its gas limit (${receipt.gasUsed} gas used) it succeeds`,
			(err: unknown) => {
				const revert = err instanceof BaseError ? err.walk((e) => e instanceof ContractFunctionRevertedError) : null;
				if (!(revert instanceof ContractFunctionRevertedError)) return String(err);
				const data = revert.data;
				return data ? `${data.errorName}(${(data.args ?? []).map(String).join(", ")})` : (revert.reason ?? revert.shortMessage);
			},
		);
	throw new Error(`transaction reverted: ${hash} (${(call as { functionName?: string }).functionName}): ${why}`);
}

export async function deposit(net: Net, wallet: Wallet, amount: bigint, payer?: Address) {
	await send(net, wallet, {
		address: net.addresses.paca,
		abi: localPacaAbi,
		functionName: "approve",
		args: [net.addresses.revenueVault, amount],
	});
	return send(net, wallet, {
		address: net.addresses.revenueVault,
		abi: revenueVaultAbi,
		functionName: "deposit",
		args: [payer ?? wallet.account.address, amount],
	});
}

/** Tokenizes a model with a random repo id; returns its token, sale and catalogue id. */
export async function tokenize(net: Net, wallet: Wallet, opts: { inputPricePer1M?: bigint; outputPricePer1M?: bigint } = {}) {
	const repoId = `test-org/model-${crypto.randomUUID().slice(0, 8)}`;
	const receipt = await send(net, wallet, {
		address: net.addresses.modelFactory,
		abi: modelFactoryAbi,
		functionName: "tokenize",
		args: [
			{
				repoId,
				revision: "main",
				name: `Test ${repoId}`,
				symbol: "TEST",
				metadataURI: `https://huggingface.co/${repoId}`,
				inputPricePer1M: opts.inputPricePer1M ?? parseEther("2"),
				outputPricePer1M: opts.outputPricePer1M ?? parseEther("6"),
				creator: "0x0000000000000000000000000000000000000000",
			},
		],
	});
	const factory = net.addresses.modelFactory.toLowerCase();
	const log = receipt.logs.find((l) => l.address.toLowerCase() === factory && l.topics.length === 4);
	if (!log?.topics[1] || !log.topics[2]) throw new Error("no ModelTokenized log");
	const token = `0x${log.topics[1].slice(26)}` as Address;
	const sale = `0x${log.topics[2].slice(26)}` as Address;
	return { repoId, token, sale, receipt };
}

export async function buy(net: Net, wallet: Wallet, sale: Address, pacaIn: bigint) {
	await send(net, wallet, { address: net.addresses.paca, abi: localPacaAbi, functionName: "approve", args: [sale, pacaIn] });
	const deadline = BigInt(Math.floor(Date.now() / 1000) + 365 * 24 * 3600);
	return send(net, wallet, {
		address: sale,
		abi: modelSaleAbi,
		functionName: "buy",
		args: [pacaIn, 0n, wallet.account.address, deadline],
	});
}

// ── The Workers under test, called as the runtime calls them ────────────────

export function chainVars(net: Net, vars: Record<string, string> = {}) {
	return {
		RPC_URL: net.rpcUrl,
		CHAIN_ID: String(net.chainId),
		CHAIN_ADDRESSES: JSON.stringify(net.addresses),
		CONFIRMATIONS: "0",
		MAX_BLOCK_RANGE: "500",
		...vars,
	};
}

export function indexerEnv(net: Net, vars: Record<string, string> = {}) {
	return { DB: env.DB, LEDGERS: ledgers(), ...chainVars(net, vars) } as never;
}

export async function runIndexer(net: Net, vars: Record<string, string> = {}) {
	const ctx = createExecutionContext();
	await indexer.scheduled(
		createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }),
		indexerEnv(net, vars),
		ctx,
	);
	await waitOnExecutionContext(ctx);
}

export function settlerEnv(net: Net, vars: Record<string, string> = {}) {
	return {
		DB: env.DB,
		LEDGERS: ledgers(),
		SETTLER_PRIVATE_KEY: net.addresses.settlerKey,
		EPOCH_SECONDS: "60",
		SETTLE_GRACE_SECONDS: "0",
		...chainVars(net, vars),
	} as never;
}

export async function runSettler(net: Net, scheduledTime: number, vars: Record<string, string> = {}) {
	const ctx = createExecutionContext();
	await settler.scheduled(createScheduledController({ scheduledTime, cron: "*/10 * * * *" }), settlerEnv(net, vars), ctx);
	await waitOnExecutionContext(ctx);
}

/** The gateway's Ledgers entrypoint, as the cron Workers' LEDGERS service binding reaches it. */
function ledgers() {
	return new Ledgers(createExecutionContext(), env as never);
}

export function ledger(payer: string) {
	return env.ACCOUNT_LEDGER.getByName(payer.toLowerCase());
}

/** A payer with `amount` of PACA deposited into the vault and credited by the indexer. */
export async function fundedPayer(net: Net, amount: bigint) {
	const payer = await newAccount(net, amount);
	await deposit(net, payer.wallet, amount);
	await runIndexer(net);
	return payer;
}

/** The Authorization header of a fresh session for `payer` (the account routes take sessions). */
export async function sessionHeader(payer: string): Promise<{ authorization: string }> {
	return { authorization: `Bearer ${(await issueSession(env as never, payer)).token}` };
}

/** Charges `amount` to the payer's ledger as a finished request would (authorize, then commit). */
export async function spend(payer: string, key: string, amount: bigint, requestId = `req_${crypto.randomUUID()}`) {
	const auth = await ledger(payer).authorize({
		keyHash: await hashApiKey(key),
		requestId,
		modelId: "m",
		maxCost: amount,
		maxTokens: 1,
		requestsPerMinute: 1_000,
		tokensPerMinute: 1_000,
		idempotencyKey: null,
		now: Date.now(),
	});
	if (!auth.ok) throw new Error(`authorize refused: ${auth.code}`);
	await ledger(payer).commit({
		requestId,
		modelId: "m",
		promptTokens: 1,
		completionTokens: 0,
		cost: amount,
		status: "ok",
		usageSource: "upstream",
		response: null,
		now: Date.now(),
	});
}
