import { parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { epochRow } from "../../lib/db/chain.ts";
import { runSettler } from "../../workers/settler/settler.ts";
import { db } from "../helpers/fixtures.ts";
import { deployment, settlerEnv } from "./helpers.ts";
import { EPOCH_MS, fundVault, modelWithUsage, settledOnChain } from "./settler-fixtures.ts";

// A settle's gas grows with its models; past SETTLE_MAX_MODELS the rest wait for the next epoch.

const net = () => deployment("settle-cap");

describe("settler: models per settle", () => {
	it("pays at most SETTLE_MAX_MODELS models per settle; the others go into the next epoch closed", async () => {
		await fundVault(net(), parseEther("1"));
		const base = Date.now();
		const three = [
			await modelWithUsage(net(), 1, parseEther("0.1"), { at: base }),
			await modelWithUsage(net(), 2, parseEther("0.1"), { at: base }),
			await modelWithUsage(net(), 1, parseEther("0.3"), { at: base }),
		];
		const epoch = three[0]?.epoch ?? 0;
		const result = await runSettler(settlerEnv(net(), { SETTLE_MAX_MODELS: "2" }), (epoch + 2) * EPOCH_MS + 1_000);
		expect(result.confirmed).toEqual([epoch, epoch + 1]);
		const modelsOf = async (e: number) => JSON.parse((await epochRow(db(), e))?.models ?? "[]") as Array<{ modelId: string }>;
		const byId = three.map((m) => m.repoId).sort();
		expect((await modelsOf(epoch)).map((m) => m.modelId)).toEqual(byId.slice(0, 2));
		expect((await modelsOf(epoch + 1)).map((m) => m.modelId)).toEqual(byId.slice(2));
		expect(await Promise.all(three.map((m) => settledOnChain(net(), m.token)))).toEqual([
			parseEther("0.1"),
			parseEther("0.2"),
			parseEther("0.3"),
		]);
	});
});
