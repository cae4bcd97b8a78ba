import { env } from "cloudflare:test";
import { type Hex, parseEther, parseGwei } from "viem";
import { describe, expect, it } from "vitest";
import { epochRow } from "../../lib/db/chain.ts";
import { runSettler } from "../../workers/settler/settler.ts";
import { db } from "../helpers/fixtures.ts";
import { callGateway } from "../helpers/gateway.ts";
import { fundedPayer, isolatedNet, pacaOf, publicClient, sessionHeader, settlerEnv, testClient } from "./helpers.ts";
import { EPOCH_MS, fundVault, modelWithUsage, settledEvents, settledOnChain } from "./settler-fixtures.ts";

// A node of its own: automine is switched off here.
const net = () => isolatedNet("stuck");

// The tests run in order: the first leaves automine on again.
describe("settler: stuck transactions", () => {
	it("replaces a settle stuck below the base fee, at the same nonce, and records the one that was mined", async () => {
		await fundVault(net());
		const { token, epoch } = await modelWithUsage(net(), 1, parseEther("1"));
		const closeAt = (epoch + 1) * EPOCH_MS + 1_000;
		const vars = { RECEIPT_WAIT_MS: "100", REPLACE_AFTER_SECONDS: "60" };
		const anvil = testClient(net());
		await anvil.setAutomine(false);
		try {
			const first = await runSettler(settlerEnv(net(), vars), closeAt);
			expect(first.pending).toBe(epoch);
			// The base fee jumps above what the transaction offers: blocks go by without it.
			await anvil.setNextBlockBaseFeePerGas({ baseFeePerGas: parseGwei("500") });
			await anvil.mine({ blocks: 1 });
			const sent = await epochRow(db(), epoch);
			const [stuckHash] = JSON.parse(sent?.txHashes ?? "[]") as Hex[];
			if (!stuckHash) throw new Error("nothing sent");
			expect(
				await publicClient(net())
					.getTransactionReceipt({ hash: stuckHash })
					.catch(() => null),
			).toBeNull();

			// Not replaced before REPLACE_AFTER_SECONDS...
			await runSettler(settlerEnv(net(), vars), closeAt + 30_000);
			expect(JSON.parse((await epochRow(db(), epoch))?.txHashes ?? "[]")).toHaveLength(1);
			// ...then replaced at the same nonce with higher fees.
			await runSettler(settlerEnv(net(), vars), closeAt + 61_000);
			const replaced = await epochRow(db(), epoch);
			const hashes = JSON.parse(replaced?.txHashes ?? "[]") as Hex[];
			expect(hashes).toHaveLength(2);
			expect(replaced?.nonce).toBe(sent?.nonce);
			expect(replaced?.maxFeePerGas ?? 0n).toBeGreaterThan(sent?.maxFeePerGas ?? 0n);

			await anvil.mine({ blocks: 1 });
			const done = await runSettler(settlerEnv(net(), vars), closeAt + 62_000);
			expect(done.confirmed).toEqual([epoch]);
			expect((await epochRow(db(), epoch))?.confirmedTx).toBe(hashes[1]);
			expect(await settledEvents(net(), epoch)).toHaveLength(1);
			expect(await settledOnChain(net(), token)).toBe(parseEther("1"));
		} finally {
			await anvil.setAutomine(true);
		}
	});

	it("replaces a withdrawal stuck below the base fee and pays it once", async () => {
		const payer = await fundedPayer(net(), parseEther("5"));
		const res = await callGateway("/v1/account/withdrawals", {
			headers: await sessionHeader(payer.address),
			json: { amount: parseEther("5").toString() },
		});
		const { id } = res.json() as { id: string };
		const before = await pacaOf(net(), payer.address);
		const vars = { RECEIPT_WAIT_MS: "100", REPLACE_AFTER_SECONDS: "60" };
		const now = Date.now();
		const anvil = testClient(net());
		await anvil.setAutomine(false);
		try {
			await runSettler(settlerEnv(net(), vars), now);
			await anvil.setNextBlockBaseFeePerGas({ baseFeePerGas: parseGwei("800") });
			await anvil.mine({ blocks: 1 });
			const first = await env.DB.prepare("SELECT state, tx_hash, nonce FROM withdrawals WHERE id = ?")
				.bind(id)
				.first<{ state: string; tx_hash: string; nonce: number }>();
			expect(first?.state).toBe("sent");

			await runSettler(settlerEnv(net(), vars), now + 61_000);
			const second = await env.DB.prepare("SELECT tx_hash, nonce FROM withdrawals WHERE id = ?")
				.bind(id)
				.first<{ tx_hash: string; nonce: number }>();
			expect(second?.tx_hash).not.toBe(first?.tx_hash);
			expect(second?.nonce).toBe(first?.nonce);

			await anvil.mine({ blocks: 1 });
			const done = await runSettler(settlerEnv(net(), vars), now + 62_000);
			expect(done.withdrawalsPaid).toBe(1);
			expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("5"));
		} finally {
			await anvil.setAutomine(true);
		}
	});
});
