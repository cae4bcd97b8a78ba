import { eq } from "drizzle-orm";
import { parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { epochRow } from "../../lib/db/chain.ts";
import { modelFeeTotals } from "../../lib/db/schema.ts";
import { runSettler } from "../../workers/settler/settler.ts";
import { db } from "../helpers/fixtures.ts";
import { callGateway } from "../helpers/gateway.ts";
import { deployment, fundedPayer, pacaOf, sessionHeader, settlerEnv } from "./helpers.ts";
import { addUsage, EPOCH_MS, fundVault, modelWithUsage, settledOnChain } from "./settler-fixtures.ts";

// A settlement the vault refuses (here: D1 restored from a backup older than the last
// settle, so the cumulative fees it would send are below what the vault already settled)
// must stop the epochs, loudly, and not the payers' withdrawals of their own deposits.

const net = () => deployment("settle-refused");

describe("settler: a settle the vault refuses", () => {
	it("reports the vault's reason, keeps the epoch waiting, and still pays withdrawals", async () => {
		await fundVault(net(), parseEther("100"));
		const { token, repoId, payer: user, epoch } = await modelWithUsage(net(), 1, parseEther("5"));
		const first = await runSettler(settlerEnv(net()), (epoch + 1) * EPOCH_MS + 1_000);
		expect(first.confirmed).toEqual([epoch]);
		expect(first.failed).toBeNull();
		expect(await settledOnChain(net(), token)).toBe(parseEther("5"));

		// D1 forgets the settled total, then the model earns 1 PACA more in a later epoch.
		await db().update(modelFeeTotals).set({ cumulativeFees: 0n }).where(eq(modelFeeTotals.modelId, repoId));
		const later = epoch + 2;
		await addUsage(repoId, user, parseEther("1"), later * EPOCH_MS + 10);

		const payer = await fundedPayer(net(), parseEther("2"));
		const withdrawal = await callGateway("/v1/account/withdrawals", {
			headers: await sessionHeader(payer.address),
			json: { amount: parseEther("2").toString() },
		});
		expect(withdrawal.status).toBe(201);
		const before = await pacaOf(net(), payer.address);

		const refused = await runSettler(settlerEnv(net()), (later + 1) * EPOCH_MS + 1_000);
		expect(refused.confirmed).toEqual([]);
		expect(refused.pending).toBeNull();
		expect(refused.failed?.epoch).toBe(later);
		expect(refused.failed?.message).toContain("CumulativeFeesDecreased");
		expect(refused.withdrawalsPaid).toBe(1);
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("2"));
		// Nothing was sent for the refused epoch; it waits, prepared, for an operator.
		const row = await epochRow(db(), later);
		expect(row?.state).toBe("prepared");
		expect(JSON.parse(row?.txHashes ?? "[]")).toEqual([]);
		expect(await settledOnChain(net(), token)).toBe(parseEther("5"));
	});
});
