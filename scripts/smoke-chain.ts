// End-to-end smoke test of the contracts on a real anvil, through viem and scripts/deploy-contracts.ts:
// deploy -> tokenize -> buy -> deposit -> settle -> (7 days, well past the drip) -> claim -> withdrawal -> graduate -> pool swap.
//
//   npm run build:contracts && node scripts/smoke-chain.ts        (starts and stops its own anvil)
//   SMOKE_RPC_URL=http://127.0.0.1:8545 node scripts/smoke-chain.ts   (uses a running anvil instead)
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
	type Address,
	createTestClient,
	decodeEventLog,
	type Hex,
	http,
	keccak256,
	parseEther,
	stringToHex,
	type TransactionReceipt,
} from "viem";
import { mnemonicToAccount } from "viem/accounts";
import {
	modelFactoryAbi,
	modelSaleAbi,
	modelTokenAbi,
	revenueVaultAbi,
	uniswapV2PairAbi,
	uniswapV2Router02Abi,
} from "../lib/chain/abis.ts";
import { connect, deployModeldex, fundLocalPaca } from "./deploy-contracts.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const MNEMONIC = "test test test test test test test test test test test junk"; // anvil's default accounts
const accountAt = (index: number) => mnemonicToAccount(MNEMONIC, { addressIndex: index });
const keyAt = (index: number): Hex => {
	const key = accountAt(index).getHdKey().privateKey;
	if (!key) throw new Error("no private key");
	return `0x${Buffer.from(key).toString("hex")}`;
};

function assert(condition: unknown, message: string): asserts condition {
	if (!condition) throw new Error(`smoke check failed: ${message}`);
}

async function startAnvil(port: number): Promise<ChildProcess> {
	const anvil = spawn(join(root, "node_modules", ".bin", "anvil"), ["--port", String(port), "--silent"], { stdio: "inherit" });
	const client = createTestClient({ mode: "anvil", transport: http(`http://127.0.0.1:${port}`) });
	for (let attempt = 0; attempt < 100; attempt++) {
		try {
			await client.getAutomine();
			return anvil;
		} catch {
			await new Promise((r) => setTimeout(r, 100));
		}
	}
	anvil.kill();
	throw new Error("anvil did not start");
}

async function main() {
	const port = Number(process.env.SMOKE_PORT ?? 8599);
	const rpcUrl = process.env.SMOKE_RPC_URL ?? `http://127.0.0.1:${port}`;
	const anvil = process.env.SMOKE_RPC_URL ? undefined : await startAnvil(port);
	try {
		await run(rpcUrl);
	} finally {
		anvil?.kill();
	}
}

async function run(rpcUrl: string) {
	const [deployerKey, settlerKey, creatorKey, aliceKey, payerKey] = [0, 1, 2, 3, 4].map(keyAt) as [Hex, Hex, Hex, Hex, Hex];
	const settler = accountAt(1).address;
	const payer = accountAt(4).address;
	const gas: Record<string, bigint> = {};

	const addresses = await deployModeldex({ rpcUrl, privateKey: deployerKey, settler, log: (l) => console.log(`  ${l}`) });
	console.log("deployed", addresses.chainId);

	const as = (key: Hex) => connect(rpcUrl, key);
	const [creatorC, aliceC, payerC, settlerC] = await Promise.all([as(creatorKey), as(aliceKey), as(payerKey), as(settlerKey)]);
	const pub = aliceC.publicClient;
	const testClient = createTestClient({ mode: "anvil", transport: http(rpcUrl) });
	const wait = async (hash: Hex, label?: string): Promise<TransactionReceipt> => {
		const receipt = await pub.waitForTransactionReceipt({ hash });
		assert(receipt.status === "success", `${label ?? hash} reverted`);
		if (label) gas[label] = receipt.gasUsed;
		return receipt;
	};
	const events = <const abi extends readonly unknown[]>(receipt: TransactionReceipt, abi: abi) =>
		receipt.logs.flatMap((log) => {
			try {
				return [
					decodeEventLog({ abi: abi as never, data: log.data, topics: log.topics }) as unknown as {
						eventName: string;
						args: Record<string, unknown>;
					},
				];
			} catch {
				return [];
			}
		});
	const paca = addresses.paca;
	const pacaBalance = (who: Address) =>
		pub.readContract({ address: paca, abi: modelTokenAbi, functionName: "balanceOf", args: [who] });

	await fundLocalPaca({ rpcUrl, privateKey: deployerKey, paca, to: aliceC.account.address, amount: parseEther("8000000") });
	await fundLocalPaca({ rpcUrl, privateKey: deployerKey, paca, to: payer, amount: parseEther("1000") });

	// tokenize
	const tokenizeReceipt = await wait(
		await creatorC.walletClient.writeContract({
			address: addresses.modelFactory,
			abi: modelFactoryAbi,
			functionName: "tokenize",
			args: [
				{
					repoId: "meta-llama/Llama-3.1-8B-Instruct",
					revision: "0e9e39f249a16976918f6564b8830bc894c89659",
					name: "Llama 3.1 8B Instruct",
					symbol: "LLAMA8B",
					metadataURI: "https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct",
					inputPricePer1M: parseEther("0.2"),
					outputPricePer1M: parseEther("0.6"),
					creator: "0x0000000000000000000000000000000000000000",
				},
			],
		}),
		"tokenize",
	);
	const tokenized = events(tokenizeReceipt, modelFactoryAbi).find((e) => e.eventName === "ModelTokenized");
	assert(tokenized, "ModelTokenized emitted");
	const token = tokenized.args.token as Address;
	const sale = tokenized.args.sale as Address;
	console.log(`tokenized ${token} sale ${sale}`);

	// buy on the curve
	await wait(
		await aliceC.walletClient.writeContract({
			address: paca,
			abi: modelTokenAbi,
			functionName: "approve",
			args: [sale, 2n ** 255n],
		}),
	);
	const deadline = BigInt(Math.floor(Date.now() / 1000) + 3600 * 24 * 30);
	const buyReceipt = await wait(
		await aliceC.walletClient.writeContract({
			address: sale,
			abi: modelSaleAbi,
			functionName: "buy",
			args: [parseEther("10000"), 1n, aliceC.account.address, deadline],
		}),
		"buy",
	);
	const trade = events(buyReceipt, modelSaleAbi).find((e) => e.eventName === "Trade");
	assert(trade && trade.args.isBuy === true, "Trade(isBuy) emitted");
	const bought = await pub.readContract({
		address: token,
		abi: modelTokenAbi,
		functionName: "balanceOf",
		args: [aliceC.account.address],
	});
	assert(bought === trade.args.tokenAmount, "buyer received the traded tokens");

	// deposit, settle, claim
	await wait(
		await payerC.walletClient.writeContract({
			address: paca,
			abi: modelTokenAbi,
			functionName: "approve",
			args: [addresses.revenueVault, parseEther("1000")],
		}),
	);
	const depositReceipt = await wait(
		await payerC.walletClient.writeContract({
			address: addresses.revenueVault,
			abi: revenueVaultAbi,
			functionName: "deposit",
			args: [payer, parseEther("1000")],
		}),
		"deposit",
	);
	assert(
		events(depositReceipt, revenueVaultAbi).some((e) => e.eventName === "Deposited"),
		"Deposited emitted",
	);
	const usageRoot = keccak256(stringToHex("epoch-1 usage"));
	const settleReceipt = await wait(
		await settlerC.walletClient.writeContract({
			address: addresses.revenueVault,
			abi: revenueVaultAbi,
			functionName: "settle",
			args: [1n, [token], [parseEther("100")], usageRoot],
		}),
		"settle (1 model)",
	);
	const settledEvents = events(settleReceipt, revenueVaultAbi).map((e) => e.eventName);
	assert(settledEvents.includes("Settled") && settledEvents.includes("ModelSettled"), "Settled + ModelSettled emitted");
	assert(
		(await pub.readContract({ address: addresses.revenueVault, abi: revenueVaultAbi, functionName: "usageRoot", args: [1n] })) ===
			usageRoot,
		"usage root stored",
	);

	await testClient.increaseTime({ seconds: 7 * 24 * 3600 });
	await testClient.mine({ blocks: 1 });
	const creatorPacaBefore = await pacaBalance(creatorC.account.address);
	const claimReceipt = await wait(
		await creatorC.walletClient.writeContract({ address: token, abi: modelTokenAbi, functionName: "claim" }),
		"claim",
	);
	const claimed = events(claimReceipt, modelTokenAbi).find((e) => e.eventName === "Claimed");
	assert(claimed, "Claimed emitted");
	const creatorGain = (await pacaBalance(creatorC.account.address)) - creatorPacaBefore;
	assert(creatorGain === claimed.args.amount && creatorGain > 0n, "creator was paid its claim");
	await wait(await aliceC.walletClient.writeContract({ address: token, abi: modelTokenAbi, functionName: "claim" }));
	console.log(`claimed: creator ${creatorGain}`);

	// withdrawal of unused credit, idempotent per id
	const withdrawalId = keccak256(stringToHex("withdrawal-1"));
	const payerBefore = await pacaBalance(payer);
	for (let i = 0; i < 2; i++) {
		await wait(
			await settlerC.walletClient.writeContract({
				address: addresses.revenueVault,
				abi: revenueVaultAbi,
				functionName: "payWithdrawal",
				args: [payer, parseEther("100"), withdrawalId],
			}),
		);
	}
	assert((await pacaBalance(payer)) - payerBefore === parseEther("100"), "withdrawal paid exactly once");

	// Singularity: buy out the curve, graduate into the real Uniswap V2 pair
	const gradReceipt = await wait(
		await aliceC.walletClient.writeContract({
			address: sale,
			abi: modelSaleAbi,
			functionName: "buy",
			args: [parseEther("7000000"), 1n, aliceC.account.address, deadline],
		}),
		"buy that graduates",
	);
	const graduated = events(gradReceipt, modelSaleAbi).find((e) => e.eventName === "Graduated");
	assert(graduated, "Graduated emitted");
	const pair = graduated.args.pair as Address;
	const [reserve0, reserve1] = await pub.readContract({ address: pair, abi: uniswapV2PairAbi, functionName: "getReserves" });
	const token0 = await pub.readContract({ address: pair, abi: uniswapV2PairAbi, functionName: "token0" });
	const [tokenReserve, pacaReserve] = token0.toLowerCase() === token.toLowerCase() ? [reserve0, reserve1] : [reserve1, reserve0];
	const [virtualPaca, virtualToken] = await pub.readContract({
		address: sale,
		abi: modelSaleAbi,
		functionName: "virtualReserves",
	});
	const poolPrice = (pacaReserve * 10n ** 18n) / tokenReserve;
	const curvePrice = (virtualPaca * 10n ** 18n) / virtualToken;
	const diff = poolPrice > curvePrice ? poolPrice - curvePrice : curvePrice - poolPrice;
	assert(diff * 1000n <= curvePrice, "pool price within 0.1 % of the curve's final price");
	console.log(`graduated into ${pair}: pool ${poolPrice} vs curve ${curvePrice} (PACA per 1e18 token units)`);

	await wait(
		await aliceC.walletClient.writeContract({
			address: paca,
			abi: modelTokenAbi,
			functionName: "approve",
			args: [addresses.uniswapV2Router02, parseEther("100")],
		}),
	);
	await wait(
		await aliceC.walletClient.writeContract({
			address: addresses.uniswapV2Router02,
			abi: uniswapV2Router02Abi,
			functionName: "swapExactTokensForTokens",
			args: [parseEther("100"), 1n, [paca, token], aliceC.account.address, deadline],
		}),
		"router swap after graduation",
	);

	console.log("gas used per transaction (receipt.gasUsed, incl. 21k intrinsic and calldata):");
	for (const [label, used] of Object.entries(gas)) console.log(`  ${label.padEnd(30)} ${used}`);
	console.log("smoke OK");
}

main().catch((error: unknown) => {
	console.error(error);
	process.exit(1);
});
