import { parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { assignUsage } from "../../lib/db/chain.ts";
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
