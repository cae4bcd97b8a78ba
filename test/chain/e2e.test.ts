import { env } from "cloudflare:test";
import { getAddress, type Hex, parseAbi, parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { modelTokenAbi, revenueVaultAbi } from "../../lib/chain/abis.ts";
import { modelUpstreams } from "../../lib/db/schema.ts";
import { issueSession } from "../../workers/gateway/session.ts";
import { db, newKey, testEnv } from "../helpers/fixtures.ts";
import { callGateway, flushMeter, usageRowsForModel } from "../helpers/gateway.ts";
import {
	buy,
	deployment,
	deposit,
	fixture,
	ledger,
	newAccount,
	publicClient,
	runIndexer,
	runSettler,
	send,
	testClient,
	tokenize,
} from "./helpers.ts";

const net = () => deployment("e2e");
const EPOCH_MS = 60_000;
const usageProofCheckAbi = parseAbi([
	"function verify(address vault, bytes32[] proof, uint64 epoch, address payer, address model, uint256 inputTokens, uint256 outputTokens, uint256 fee) view returns (bool)",
]);

describe("the whole path on anvil", () => {
	it("deposit → credited → metered call → epoch settled → proof verifies on chain → holder's claim pays its share in PACA", async () => {
		const started = Date.now();
		const client = publicClient(net());
		const { revenueVault: vault, paca } = net().addresses;

		// A model is tokenized and bought on its curve; the indexer creates its catalogue row.
		const creator = await newAccount(net(), 0n);
		const holder = await newAccount(net(), parseEther("1000"));
		const { token, sale, repoId } = await tokenize(net(), creator.wallet, {
			inputPricePer1M: parseEther("2"),
			outputPricePer1M: parseEther("6"),
		});
		await buy(net(), holder.wallet, sale, parseEther("500"));
		const payer = await newAccount(net(), parseEther("10"));
		await deposit(net(), payer.wallet, parseEther("10"));
		await runIndexer(net());
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("10"));
		await db().insert(modelUpstreams).values({
			modelId: repoId,
			position: 0,
			kind: "openai",
			baseUrl: env.STAND_IN_URL,
			upstreamModel: "stand-in",
			apiKeySecret: null,
		});

		// A metered call, paid from the deposit.
		const { key } = await newKey({ payer: payer.address, credit: 0n });
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model: repoId, max_tokens: 8, messages: [{ role: "user", content: "settle me" }] },
		});
		expect(res.status).toBe(200);
		await flushMeter(repoId);
		const [row] = await usageRowsForModel(repoId);
		if (!row) throw new Error("no usage row");
		expect(row.fee).toBeGreaterThan(0n);
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("10") - row.fee);

		// The epoch closes: one settle carrying the model's fees and the usage root.
		const epoch = Math.floor(row.createdAt / EPOCH_MS);
		await runSettler(net(), (epoch + 1) * EPOCH_MS + 1_000);
		expect(
			await client.readContract({ address: vault, abi: revenueVaultAbi, functionName: "settledFees", args: [getAddress(token)] }),
		).toBe(row.fee);

		// The payer's leaf and proof from the API verify on chain against the vault's root.
		const { token: session } = await issueSession(testEnv(), payer.address);
		const usage = await callGateway(`/v1/account/usage?epoch=${epoch}`, { headers: { authorization: `Bearer ${session}` } });
		expect(usage.status).toBe(200);
		const body = usage.json() as {
			status: string;
			usage_root: Hex;
			data: Array<{ model: string; token: Hex; input_tokens: string; output_tokens: string; fee: string; proof: Hex[] }>;
		};
		expect(body.status).toBe("confirmed");
		expect(body.usage_root).toBe(
			await client.readContract({ address: vault, abi: revenueVaultAbi, functionName: "usageRoot", args: [BigInt(epoch)] }),
		);
		const leaf = body.data[0];
		if (!leaf) throw new Error("no leaf");
		expect(leaf).toMatchObject({ model: repoId, fee: row.fee.toString(), input_tokens: String(row.promptTokens) });
		const verify = (fee: bigint) =>
			client.readContract({
				address: fixture().usageProofCheck,
				abi: usageProofCheckAbi,
				functionName: "verify",
				args: [
					vault,
					leaf.proof,
					BigInt(epoch),
					getAddress(payer.address),
					getAddress(leaf.token),
					BigInt(leaf.input_tokens),
					BigInt(leaf.output_tokens),
					fee,
				],
			});
		expect(await verify(BigInt(leaf.fee))).toBe(true);
		expect(await verify(BigInt(leaf.fee) + 1n)).toBe(false);

		// The holders' part drips over the token's period; the holder's claim pays its share.
		const protocolFee = (row.fee * BigInt(net().addresses.protocolFeeBps)) / 10_000n;
		const creatorFee = (row.fee * BigInt(net().addresses.creatorFeeBps)) / 10_000n;
		const holderRevenue = row.fee - protocolFee - creatorFee;
		const [balance, shareSupply, dripPeriod] = await Promise.all([
			client.readContract({ address: token, abi: modelTokenAbi, functionName: "balanceOf", args: [getAddress(holder.address)] }),
			client.readContract({ address: token, abi: modelTokenAbi, functionName: "shareSupply" }),
			client.readContract({ address: token, abi: modelTokenAbi, functionName: "dripPeriod" }),
		]);
		await testClient(net()).increaseTime({ seconds: Number(dripPeriod) + 1 });
		await testClient(net()).mine({ blocks: 1 });
		const pacaBefore = await client.readContract({
			address: paca,
			abi: modelTokenAbi,
			functionName: "balanceOf",
			args: [getAddress(holder.address)],
		});
		await send(net(), holder.wallet, { address: token, abi: modelTokenAbi, functionName: "claim" });
		const paid =
			(await client.readContract({
				address: paca,
				abi: modelTokenAbi,
				functionName: "balanceOf",
				args: [getAddress(holder.address)],
			})) - pacaBefore;
		const expected = (holderRevenue * balance) / shareSupply;
		expect(paid).toBeGreaterThan(0n);
		// Rounding in the drip accumulator, always in the contract's favour: within one part per million.
		expect(paid <= expected && (expected - paid) * 1_000_000n <= expected).toBe(true);

		// The indexer's market view shows the settlement, the holders and the claim.
		await runIndexer(net());
		const market = await callGateway(`/v1/markets/${repoId}`);
		expect(market.json()).toMatchObject({
			model: repoId,
			token: token.toLowerCase(),
			status: "funding",
			revenue_settled: row.fee.toString(),
			holders: 2, // the creator's allocation and the buyer
		});
		expect(BigInt(market.json().imo.raised)).toBeGreaterThan(0n);
		const holders = await callGateway(`/v1/markets/${repoId}/holders`);
		expect(holders.json().data.map((h: { account: string }) => h.account)).toContain(holder.address);
		const trades = await callGateway(`/v1/markets/${repoId}/trades`);
		expect(trades.json().data).toMatchObject([{ side: "buy", trader: holder.address }]);
		console.log(`e2e: fee ${row.fee}, holder paid ${paid} of expected ${expected}, ${Date.now() - started} ms`);
	});
});
