import { env } from "cloudflare:test";
import { parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { epochRow } from "../../lib/db/chain.ts";
import { runSettler } from "../../workers/settler/settler.ts";
import { db } from "../helpers/fixtures.ts";
import { deployment, settlerEnv } from "./helpers.ts";
import { EPOCH_MS, fundVault, modelWithUsage, settledOnChain } from "./settler-fixtures.ts";

// The vault refuses an epoch past the one after its current (block.timestamp / epochLength + 1).
// This deployment's vault has the production epoch length, an hour; the settler tests' usual
// EPOCH_SECONDS (60) numbers epochs sixty times too high for it.

const net = () => deployment("epoch-length");
const HOUR_MS = 3_600_000;

describe("settler: an EPOCH_SECONDS shorter than the vault's epoch length", () => {
	it("refuses the epoch before preparing anything, and settles it once EPOCH_SECONDS matches the vault", async () => {
		await fundVault(net());
		const at = Date.now() - 3 * HOUR_MS;
		const { token, epoch } = await modelWithUsage(net(), 2, parseEther("0.5"), { at });

		const wrong = await runSettler(settlerEnv(net()), (epoch + 1) * EPOCH_MS + 1_000);
		expect(wrong.failed?.message).toMatch(/vault's epoch length is 3600 s and this settler's EPOCH_SECONDS 60/);
		// Nothing prepared: no epoch row, and the usage is still unassigned for the right epoch to take.
		expect(await epochRow(db(), epoch)).toBeUndefined();
		const assigned = await env.DB.prepare("SELECT COUNT(*) AS n FROM usage_epochs").first<{ n: number }>();
		expect(assigned?.n).toBe(0);

		const hour = Math.floor(at / HOUR_MS);
		const right = await runSettler(settlerEnv(net(), { EPOCH_SECONDS: "3600" }), (hour + 1) * HOUR_MS + 1_000);
		expect(right.failed).toBeNull();
		expect(right.confirmed).toEqual([hour]);
		expect(await settledOnChain(net(), token)).toBe(parseEther("1"));
	});
});
