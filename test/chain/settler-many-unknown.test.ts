import { parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { epochRow } from "../../lib/db/chain.ts";
import { upsertModel } from "../../lib/db/models.ts";
import { runSettler } from "../../workers/settler/settler.ts";
import { db } from "../helpers/fixtures.ts";
import { deployment, settlerEnv } from "./helpers.ts";
import { addUsage, EPOCH_MS, fundVault, modelWithUsage, settledOnChain } from "./settler-fixtures.ts";

// More models with usage whose token the vault does not know than one D1 statement may name
// (100 bound parameters): their usage waits, reported, and the rest still settles.

const net = () => deployment("many-unknown");

describe("settler: many models of tokens the vault does not know", () => {
	it("settles the known model's usage and reports all 120 unknown ones", async () => {
		await fundVault(net(), parseEther("10"));
		const good = await modelWithUsage(net(), 1, parseEther("0.2"));
		const at = good.epoch * EPOCH_MS + 10;
		for (let i = 0; i < 120; i++) {
			const id = `unknown/model-${i}-${crypto.randomUUID().slice(0, 8)}`;
			const token = `0x${(i + 1).toString(16).padStart(40, "e")}`;
			await upsertModel(db(), {
				id,
				displayName: id,
				inputPricePerM: 1n,
				outputPricePerM: 1n,
				tokenAddress: token,
				upstreams: [],
			});
			await addUsage(id, good.payer, 1n, at);
		}
		const run = await runSettler(settlerEnv(net()), (good.epoch + 1) * EPOCH_MS + 1_000);
		expect(run.failed).toBeNull();
		expect(run.confirmed).toEqual([good.epoch]);
		expect(await settledOnChain(net(), good.token)).toBe(parseEther("0.2"));
		const skipped = JSON.parse((await epochRow(db(), good.epoch))?.skipped ?? "[]") as Array<{ reason: string }>;
		expect(skipped).toHaveLength(120);
		expect(skipped.every((s) => s.reason === "not_registered")).toBe(true);
	});
});
