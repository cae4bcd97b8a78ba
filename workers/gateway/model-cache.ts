import type { Db } from "../../lib/db/client.ts";
import { findRoutableModel, type ModelRecord } from "../../lib/db/models.ts";
import { sleep } from "../../lib/sleep.ts";
import type { Deferrer } from "./leases.ts";

// Model routing rows change rarely (admin edits, price syncs from the indexer) and
// are read on every request, so each isolate keeps them for a few seconds rather
// than asking D1 every time. A row older than TTL_MS is still served, once, while it
// is read again off the request path, so no request waits for D1 just because the row
// aged (before, one request per model every TTL_MS did: 0.6% of requests at 140/s over
// 4 models). A change (prices, upstreams, disabling) so reaches every request within
// MAX_STALE_MS; past that, and for a model this isolate did not find (a new model is
// usable within TTL_MS), the request waits for D1.
const TTL_MS = 5_000;
const MAX_STALE_MS = 2 * TTL_MS;
/** Model ids are the client's to choose: entries past this many are dropped, not kept forever. */
const MAX_ENTRIES = 4096;

interface Entry {
	model: ModelRecord | null;
	readAt: number;
	/** A read of the row under way (one per isolate at a time). */
	reading?: Promise<ModelRecord | null>;
}

const cache = new Map<string, Entry>();

export async function getModel(db: Db, id: string, ctx: Deferrer, now = Date.now()): Promise<ModelRecord | null> {
	const hit = cache.get(id);
	if (hit && now - hit.readAt < TTL_MS) return hit.model;
	if (hit?.model && now - hit.readAt < MAX_STALE_MS) {
		// A millisecond on, when this request is usually waiting on its upstream: the read's own
		// work (the query built and sent, its rows taken in) is then not inside the request's.
		// Started at once, it made 1 request in 100 slower at c=1, the refreshing one
		// (bench/request-costs.ts BENCH_LATENCY=1: 49 of 3,000 over the bar, 20 deferred; the
		// steps before the gateway's own logic had 13-28).
		if (!hit.reading) ctx.waitUntil(read(db, id, now, 1).catch(() => {}));
		return hit.model;
	}
	return hit?.reading ?? read(db, id, now);
}

/** Reads the row from D1 (`delayMs` on) into the cache; a failed read leaves what was cached. */
function read(db: Db, id: string, now: number, delayMs = 0): Promise<ModelRecord | null> {
	const hit = cache.get(id);
	const reading = delayMs > 0 ? sleep(delayMs).then(() => findRoutableModel(db, id)) : findRoutableModel(db, id);
	if (hit) hit.reading = reading;
	else {
		if (cache.size >= MAX_ENTRIES) cache.clear();
		cache.set(id, { model: null, readAt: Number.NEGATIVE_INFINITY, reading });
	}
	return reading.then(
		(model) => {
			// Unless an admin change here dropped the entry meanwhile (the row read may predate it).
			if (cache.get(id)?.reading === reading) cache.set(id, { model, readAt: now });
			return model;
		},
		(err: unknown) => {
			const entry = cache.get(id);
			if (entry?.reading === reading) entry.reading = undefined;
			throw err;
		},
	);
}

/** Drops a model from this isolate's cache (after an admin change made here). */
export function forgetModel(id: string): void {
	cache.delete(id);
}
