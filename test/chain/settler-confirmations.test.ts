import { env } from "cloudflare:test";
import { type Hex, parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { epochRow } from "../../lib/db/chain.ts";
import { runSettler } from "../../workers/settler/settler.ts";
import { db } from "../helpers/fixtures.ts";
import { isolatedNet, publicClient, settlerEnv, testClient } from "./helpers.ts";
import { EPOCH_MS, fundVault, modelWithUsage, settledEvents, settledOnChain } from "./settler-fixtures.ts";

// A node of its own: blocks are mined here only when a test says so (anvil mines one per
// transaction, none otherwise), so a transaction's depth is known, and snapshot/revert stands
// for a reorg of the newest blocks. The settler records a settle as final only CONFIRMATIONS
// (here 2) blocks deep: head - block >= 2.

const net = () => isolatedNet("confirmations");
const VARS = { CONFIRMATIONS: "2", RECEIPT_WAIT_MS: "2000", REPLACE_AFTER_SECONDS: "60" };

const client = () => publicClient(net());
const anvil = () => testClient(net());
const settlerNonce = (blockTag: "latest" | "pending") =>
	client().getTransactionCount({ address: net().addresses.settler, blockTag });

// The tests run in order on one node and one D1.
describe("settler: a transaction is final only CONFIRMATIONS blocks deep", () => {
	it("confirms an epoch it finds settled on chain only once the Settled log is CONFIRMATIONS deep, sending nothing meanwhile", async () => {
		await fundVault(net());
		const { token, epoch } = await modelWithUsage(net(), 1, parseEther("1"));
		const closeAt = (epoch + 1) * EPOCH_MS + 1_000;

		// The settle is broadcast (and mined), and the run dies before D1 knows: the epoch is prepared.
		let settledBy: Hex | undefined;
		await expect(
			runSettler(settlerEnv(net(), VARS), closeAt, {
				async afterBroadcast(e, hash) {
					settledBy = hash;
					await env.DB.prepare("UPDATE settler_epochs SET state = 'prepared', nonce = NULL, tx_hashes = '[]' WHERE epoch = ?")
						.bind(e)
						.run();
					throw new Error("killed");
				},
			}),
		).rejects.toThrow("killed");
		expect(await settledEvents(net(), epoch)).toHaveLength(1);
		const nonce = await settlerNonce("pending");

		// 0, then 1 block deep: found on chain, left prepared, nothing sent.
		for (const depth of [0, 1]) {
			if (depth > 0) await anvil().mine({ blocks: 1 });
			const run = await runSettler(settlerEnv(net(), VARS), closeAt + depth * 1_000);
			expect(run.confirmed).toEqual([]);
			expect(run.pending).toBe(epoch);
			expect(run.failed).toBeNull();
			expect((await epochRow(db(), epoch))?.state).toBe("prepared");
			expect(await settlerNonce("pending")).toBe(nonce);
		}

		await anvil().mine({ blocks: 1 });
		const done = await runSettler(settlerEnv(net(), VARS), closeAt + 2_000);
		expect(done.confirmed).toEqual([epoch]);
		expect((await epochRow(db(), epoch))?.confirmedTx).toBe(settledBy);
		expect(await settlerNonce("pending")).toBe(nonce);
		expect(await settledOnChain(net(), token)).toBe(parseEther("1"));
	});

	it("settles an epoch again, once, when a reorg drops the settle it found on chain before it was deep", async () => {
		await fundVault(net());
		const { token, epoch } = await modelWithUsage(net(), 1, parseEther("2"), { at: Date.now() + 5 * EPOCH_MS });
		const closeAt = (epoch + 1) * EPOCH_MS + 1_000;
		const snapshot = await anvil().snapshot();

		await expect(
			runSettler(settlerEnv(net(), VARS), closeAt, {
				async afterBroadcast(e) {
					await env.DB.prepare("UPDATE settler_epochs SET state = 'prepared', nonce = NULL, tx_hashes = '[]' WHERE epoch = ?")
						.bind(e)
						.run();
					throw new Error("killed");
				},
			}),
		).rejects.toThrow("killed");
		const found = await runSettler(settlerEnv(net(), VARS), closeAt);
		expect(found.pending).toBe(epoch);
		expect(found.confirmed).toEqual([]);

		// The reorg: the settle leaves the chain; the vault has no such epoch any more.
		await anvil().revert({ id: snapshot });
		expect(await settledEvents(net(), epoch)).toHaveLength(0);
		const nonce = await settlerNonce("latest");

		// Sent again: one settle, still too shallow to record.
		const resent = await runSettler(settlerEnv(net(), VARS), closeAt + 1_000);
		expect(resent.confirmed).toEqual([]);
		expect(resent.pending).toBe(epoch);
		const row = await epochRow(db(), epoch);
		expect(row?.state).toBe("sent");
		expect(row?.nonce).toBe(nonce);
		expect(await settlerNonce("pending")).toBe(nonce + 1);

		await anvil().mine({ blocks: 2 });
		const done = await runSettler(settlerEnv(net(), VARS), closeAt + 2_000);
		expect(done.confirmed).toEqual([epoch]);
		expect(await settlerNonce("pending")).toBe(nonce + 1);
		expect(await settledEvents(net(), epoch)).toHaveLength(1);
		expect(await settledOnChain(net(), token)).toBe(parseEther("2"));
	});
});
