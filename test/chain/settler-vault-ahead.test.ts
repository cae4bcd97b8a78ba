import { eq } from "drizzle-orm";
import { parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { deleteLeavesOfEpoch, epochRow } from "../../lib/db/chain.ts";
import { modelFeeTotals, settlerEpochs, usageEpochs } from "../../lib/db/schema.ts";
import { runSettler } from "../../workers/settler/settler.ts";
import { db } from "../helpers/fixtures.ts";
import { deployment, settlerEnv } from "./helpers.ts";
import { addUsage, EPOCH_MS, fundVault, modelWithUsage, settledOnChain } from "./settler-fixtures.ts";

// D1 restored from a backup taken while an epoch was being prepared: the epoch's usage is
// assigned to it, but what the run wrote next (leaves, then the epoch row with the new fee
// totals) is gone, while the vault has settled the epoch. That usage must not be stranded
// (holders would be short of it for good, and the vault would refuse every later settle of
// the model, its cumulative total being behind), nor paid twice.

const net = () => deployment("vault-ahead");

describe("settler: the vault ahead of D1", () => {
	it("puts usage assigned to an epoch D1 lost but the vault settled into the next epoch, and pays it once", async () => {
		// Exactly what holders are owed in the end: the released usage, already paid, needs none.
		await fundVault(net(), parseEther("6"));
		const { token, repoId, payer, epoch } = await modelWithUsage(net(), 1, parseEther("5"));
		const first = await runSettler(settlerEnv(net()), (epoch + 1) * EPOCH_MS + 1_000);
		expect(first.confirmed).toEqual([epoch]);
		expect(await settledOnChain(net(), token)).toBe(parseEther("5"));

		// The restore: the usage stays assigned to the epoch; its leaves, row and fee total are gone.
		await db().delete(settlerEpochs).where(eq(settlerEpochs.epoch, epoch));
		await deleteLeavesOfEpoch(db(), epoch);
		await db().delete(modelFeeTotals).where(eq(modelFeeTotals.modelId, repoId));

		// The model earns 1 PACA more, two epochs later.
		const later = epoch + 2;
		await addUsage(repoId, payer, parseEther("1"), later * EPOCH_MS + 10);

		const run = await runSettler(settlerEnv(net()), (later + 1) * EPOCH_MS + 1_000);
		expect(run.failed).toBeNull();
		// The released usage goes into the epoch after the vault's last; the vault pays only what
		// its total lacks: nothing for it, 1 PACA for the new usage.
		expect(run.confirmed).toEqual([epoch + 1, later]);
		expect(await settledOnChain(net(), token)).toBe(parseEther("6"));
		expect(run.underfunded).toBeNull();
		expect(
			(
				await db()
					.select()
					.from(usageEpochs)
					.where(eq(usageEpochs.epoch, epoch + 1))
					.all()
			).length,
		).toBe(1);
		const [total] = await db().select().from(modelFeeTotals).where(eq(modelFeeTotals.modelId, repoId)).all();
		expect(total?.cumulativeFees).toBe(parseEther("6"));
		expect((await epochRow(db(), later))?.state).toBe("confirmed");
	});
});
