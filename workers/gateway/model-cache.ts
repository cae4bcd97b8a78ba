import type { Db } from "../../lib/db/client.ts";
import { findRoutableModel, type ModelRecord } from "../../lib/db/models.ts";

// Model routing rows change rarely (admin edits, price syncs from the indexer) and
// are read on every request, so each isolate keeps them for a few seconds rather
// than asking D1 every time. An admin change reaches every isolate within TTL_MS.
const TTL_MS = 5_000;
const cache = new Map<string, { model: ModelRecord | null; expires: number; pending?: Promise<ModelRecord | null> }>();

export async function getModel(db: Db, id: string, now = Date.now()): Promise<ModelRecord | null> {
	const hit = cache.get(id);
	if (hit && hit.expires > now) return hit.model;
	if (hit?.pending) return hit.pending;
	const pending = findRoutableModel(db, id);
	cache.set(id, { model: hit?.model ?? null, expires: 0, pending });
	try {
		const model = await pending;
		cache.set(id, { model, expires: now + TTL_MS });
		return model;
	} catch (err) {
		cache.delete(id);
		throw err;
	}
}

/** Drops a model from this isolate's cache (after an admin change made here). */
export function forgetModel(id: string): void {
	cache.delete(id);
}
