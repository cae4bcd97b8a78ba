import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { upsertModel } from "../../lib/db/models.ts";
import { models } from "../../lib/db/schema.ts";
import { getModel } from "../../workers/gateway/model-cache.ts";
import { db, newModel, standIn } from "../helpers/fixtures.ts";

// The isolate's model cache against the real D1: an aged row is served while it is
// read again off the request path; a model it has not found, or a row past twice the
// TTL, is read on the path.

function deferrer() {
	const deferred: Array<Promise<unknown>> = [];
	return { ctx: { waitUntil: (p: Promise<unknown>) => deferred.push(p) }, deferred };
}

const setPrice = (id: string, inputPricePerM: bigint) =>
	upsertModel(db(), { id, displayName: id, inputPricePerM, outputPricePerM: 1n, upstreams: [standIn()] });

describe("model cache", () => {
	it("serves an aged row once while it reads the row again off the path, then the new row", async () => {
		const id = await newModel({ inputPricePerM: 100n });
		const t0 = Date.now();
		const first = deferrer();
		expect((await getModel(db(), id, first.ctx, t0))?.inputPricePerM).toBe(100n);
		expect(first.deferred).toHaveLength(0);
		await setPrice(id, 200n);

		// Within the TTL: the cached row, nothing read.
		const fresh = deferrer();
		expect((await getModel(db(), id, fresh.ctx, t0 + 4_000))?.inputPricePerM).toBe(100n);
		expect(fresh.deferred).toHaveLength(0);

		// Aged: still the cached row, with one read of D1 deferred (not two for two requests).
		const aged = deferrer();
		expect((await getModel(db(), id, aged.ctx, t0 + 6_000))?.inputPricePerM).toBe(100n);
		expect((await getModel(db(), id, aged.ctx, t0 + 6_001))?.inputPricePerM).toBe(100n);
		expect(aged.deferred).toHaveLength(1);
		await Promise.all(aged.deferred);
		expect((await getModel(db(), id, deferrer().ctx, t0 + 6_002))?.inputPricePerM).toBe(200n);
	});

	it("reads on the path a model it had not found once its TTL is up, so a new model is usable within it", async () => {
		const id = `test/model-${crypto.randomUUID().slice(0, 8)}`;
		const t0 = Date.now();
		expect(await getModel(db(), id, deferrer().ctx, t0)).toBeNull();
		await setPrice(id, 300n);
		const later = deferrer();
		expect((await getModel(db(), id, later.ctx, t0 + 6_000))?.inputPricePerM).toBe(300n);
		expect(later.deferred).toHaveLength(0);
	});

	it("drops a disabled model after the deferred read, and reads a row older than twice the TTL on the path", async () => {
		const id = await newModel({ inputPricePerM: 100n });
		const t0 = Date.now();
		await getModel(db(), id, deferrer().ctx, t0);
		await db().update(models).set({ enabled: false }).where(eq(models.id, id));
		const aged = deferrer();
		expect(await getModel(db(), id, aged.ctx, t0 + 6_000)).not.toBeNull();
		await Promise.all(aged.deferred);
		expect(await getModel(db(), id, deferrer().ctx, t0 + 6_001)).toBeNull();

		const other = await newModel({ inputPricePerM: 100n });
		await getModel(db(), other, deferrer().ctx, t0);
		await setPrice(other, 400n);
		const old = deferrer();
		expect((await getModel(db(), other, old.ctx, t0 + 11_000))?.inputPricePerM).toBe(400n);
		expect(old.deferred).toHaveLength(0);
	});
});
