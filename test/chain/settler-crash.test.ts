import { type Address, parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { buildUsageTree } from "../../lib/chain/usage-tree.ts";
import { assignUsage, epochRow, feeTotals, leavesOfEpoch } from "../../lib/db/chain.ts";
import { insertUsage } from "../../lib/db/usage.ts";
import { runSettler as runSettlerDirect } from "../../workers/settler/settler.ts";
import { db } from "../helpers/fixtures.ts";
import { deployment, settlerEnv } from "./helpers.ts";
import { EPOCH_MS, fundVault, modelWithUsage, settledOnChain } from "./settler-fixtures.ts";

// Its own deployment and D1: the state a stopped run leaves must be the only one here.

describe("settler: a run stopped between assigning an epoch's usage and recording the epoch", () => {
	const net = () => deployment("settler-crash");

	it("closes that epoch on the next run instead of skipping to the next usage", async () => {
		await fundVault(net());
		const early = await modelWithUsage(net(), 2, parseEther("0.3"));
		const later = await modelWithUsage(net(), 1, parseEther("0.1"), { at: Date.now() + 3 * EPOCH_MS });
		// What the stopped run left behind: the early epoch's usage assigned to it, no epoch row.
		await assignUsage(db(), early.epoch, (early.epoch + 1) * EPOCH_MS, [early.repoId]);

		const result = await runSettlerDirect(settlerEnv(net()), (later.epoch + 1) * EPOCH_MS + 1_000);
		expect(result.confirmed).toEqual([early.epoch, later.epoch]);
		expect(await settledOnChain(net(), early.token)).toBe(parseEther("0.6"));
		expect(await settledOnChain(net(), later.token)).toBe(parseEther("0.1"));
	});
});

describe("settler: a run stopped after writing an epoch's leaves, before its row and fee totals", () => {
	const net = () => deployment("settler-crash");

	it("leaves no epoch and no fee total behind, and the next run rebuilds the leaves from all the usage", async () => {
		await fundVault(net());
		// Past the epochs the test above settled.
		const at = Date.now() + 6 * EPOCH_MS;
		const m = await modelWithUsage(net(), 2, parseEther("0.3"), { at });
		const now = (m.epoch + 1) * EPOCH_MS + 1_000;
		const stop = new Error("stopped after the leaves");
		await expect(
			runSettlerDirect(settlerEnv(net()), now, {
				afterLeaves: () => {
					throw stop;
				},
			}),
		).rejects.toBe(stop);
		expect(await epochRow(db(), m.epoch)).toBeUndefined();
		expect((await feeTotals(db())).find((t) => t.modelId === m.repoId)).toBeUndefined();
		expect(await leavesOfEpoch(db(), m.epoch)).toHaveLength(1);

		// Usage of the same payer and epoch that arrives before the next run changes its leaf.
		await insertUsage(db(), [
			{
				requestId: `req_${crypto.randomUUID()}`,
				keyId: "key_test",
				payer: m.payer,
				modelId: m.repoId,
				promptTokens: 10,
				completionTokens: 5,
				fee: parseEther("0.2"),
				status: "ok",
				usageSource: "upstream",
				createdAt: at,
			},
		]);
		const result = await runSettlerDirect(settlerEnv(net()), now);
		expect(result.confirmed).toEqual([m.epoch]);
		expect(await settledOnChain(net(), m.token)).toBe(parseEther("0.8"));
		const leaves = await leavesOfEpoch(db(), m.epoch);
		expect(leaves.map((l) => l.fee)).toEqual([parseEther("0.8")]);
		const root = buildUsageTree(
			leaves.map((l) => ({
				epoch: BigInt(m.epoch),
				payer: l.payer as Address,
				model: l.token as Address,
				inputTokens: BigInt(l.inputTokens),
				outputTokens: BigInt(l.outputTokens),
				fee: l.fee,
			})),
		).root;
		expect(root).toBe((await epochRow(db(), m.epoch))?.usageRoot);
		expect((await feeTotals(db())).find((t) => t.modelId === m.repoId)?.cumulativeFees).toBe(parseEther("0.8"));
	});
});
