import { createExecutionContext } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { type LeaseSyncInput, parseLeaseRequestId } from "../../durable-objects/lease-protocol.ts";
import type { UsageRecord } from "../../durable-objects/model-meter.ts";
import { hashApiKey } from "../../lib/keys.ts";
import { ledgerFor } from "../../workers/gateway/accounts.ts";
import { readConfig } from "../../workers/gateway/env.ts";
import { admit, trackRequest } from "../../workers/gateway/leases.ts";
import { finishedRequest, newKey, testEnv } from "../helpers/fixtures.ts";

// When the isolate goes idle (workers/gateway/leases.ts, flushWhileIdle), what waits for
// a batch goes at once, within the batch interval's bound: a lease or model sends at most
// about once per BATCH_MS. A file of its own: "idle" is the isolate's, and another file's
// requests left in flight would make it busy for good. Leases here are never returned
// (LEASE_IDLE_MS a minute), so a test's lease stays the one it made quiet.

const BATCH_MS = 1_000;

/** The gateway's env with a one-second batch interval, and every ledger sync and meter batch it sends, timed. */
function observedEnv() {
	const base = testEnv();
	const syncs: Array<{ at: number; seqs: number[] }> = [];
	const batches: Array<{ at: number; requestIds: string[] }> = [];
	const env = {
		...base,
		BATCH_MS: String(BATCH_MS),
		LEASE_IDLE_MS: "60000",
		ACCOUNT_LEDGER: {
			getByName(name: string) {
				const stub = base.ACCOUNT_LEDGER.getByName(name);
				return {
					sync: (input: LeaseSyncInput) => {
						syncs.push({ at: Date.now(), seqs: input.records.map((r) => r.seq) });
						return stub.sync(input);
					},
				};
			},
		},
		MODEL_METER: {
			getByName(name: string) {
				const stub = base.MODEL_METER.getByName(name);
				return {
					recordBatch: (modelId: string, usages: UsageRecord[]) => {
						batches.push({ at: Date.now(), requestIds: usages.map((u) => u.requestId) });
						return stub.recordBatch(modelId, usages);
					},
				};
			},
		},
	} as unknown as typeof base;
	return { env, syncs, batches };
}

const seqOf = (requestId: string) => parseLeaseRequestId(requestId).seq;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` holds (or `ms` pass); returns when it first held, or null. */
async function within(ms: number, check: () => boolean): Promise<number | null> {
	const end = Date.now() + ms;
	while (Date.now() < end) {
		if (check()) return Date.now();
		await sleep(5);
	}
	return check() ? Date.now() : null;
}

async function quietLease() {
	const { key, payer } = await newKey({ credit: 10n ** 18n });
	const keyHash = await hashApiKey(key);
	const observed = observedEnv();
	const config = readConfig(observed.env);
	const ctx = createExecutionContext();
	const modelId = `idle-${crypto.randomUUID()}`;
	const req = { keyHash, payer, modelId, maxCost: 1_000_000n, maxTokens: 100 };
	// The lease is opened (one sync) and its first request reported by the scheduled flush;
	// then it sends nothing for a whole batch interval.
	(await admit(observed.env, ctx, config, req)).finish(ctx, finishedRequest(payer, modelId));
	await sleep(2 * BATCH_MS + 200);
	return { ...observed, config, ctx, req, payer, modelId };
}

describe("flushes when the isolate is idle", () => {
	it("reports a request, and meters it, right after it finishes when nothing else runs", async () => {
		const { env, syncs, batches, config, ctx, req, payer, modelId } = await quietLease();
		const admission = await admit(env, ctx, config, req);
		const { seq } = parseLeaseRequestId(admission.requestId);
		const syncsBefore = syncs.length;
		const end = Date.now();
		admission.finish(ctx, finishedRequest(payer, modelId));
		// Before: the batch interval's timer, a second after the admission.
		const synced = await within(BATCH_MS / 2, () => syncs.slice(syncsBefore).some((s) => s.seqs.includes(seq)));
		expect(synced, "reported to the ledger within half a batch interval").not.toBeNull();
		const metered = await within(BATCH_MS / 2, () => batches.some((b) => b.requestIds.includes(admission.requestId)));
		expect(metered, "sent to the meter within half a batch interval").not.toBeNull();
		expect((metered as number) - end).toBeLessThan(BATCH_MS / 2);
		// Sent once: the scheduled flush, a batch interval after the admission, found nothing left.
		await sleep(BATCH_MS + 300);
		expect(syncs.filter((s) => s.seqs.includes(seq))).toHaveLength(1);
		expect(batches.filter((b) => b.requestIds.includes(admission.requestId))).toHaveLength(1);
	});

	it("keeps a finished request for its batch while another is in flight, then sends both together", async () => {
		const { env, syncs, config, ctx, req, payer, modelId } = await quietLease();
		const a = await admit(env, ctx, config, req);
		const b = await admit(env, ctx, config, req);
		const syncsBefore = syncs.length;
		a.finish(ctx, finishedRequest(payer, modelId));
		await sleep(150);
		expect(
			syncs.slice(syncsBefore).some((s) => s.seqs.includes(seqOf(a.requestId))),
			"not sent while b runs",
		).toBe(false);
		b.finish(ctx, finishedRequest(payer, modelId));
		const synced = await within(BATCH_MS / 2, () =>
			syncs.slice(syncsBefore).some((s) => s.seqs.includes(seqOf(a.requestId)) && s.seqs.includes(seqOf(b.requestId))),
		);
		expect(synced, "both in one sync once the isolate is idle, before the batch timer").not.toBeNull();
	});

	it("sends a lease at most once per batch interval, idle or not", async () => {
		const { env, syncs, config, ctx, req, payer, modelId } = await quietLease();
		const first = await admit(env, ctx, config, req);
		first.finish(ctx, finishedRequest(payer, modelId));
		const firstAt = await within(BATCH_MS / 2, () => syncs.some((s) => s.seqs.includes(seqOf(first.requestId))));
		expect(firstAt).not.toBeNull();
		// Idle again right after: this one waits for the batch interval since the last sync.
		const second = await admit(env, ctx, config, req);
		second.finish(ctx, finishedRequest(payer, modelId));
		const early = await within(BATCH_MS / 2, () => syncs.some((s) => s.seqs.includes(seqOf(second.requestId))));
		expect(early, "not sent within half a batch interval of the last sync").toBeNull();
		const late = await within(BATCH_MS * 2, () => syncs.some((s) => s.seqs.includes(seqOf(second.requestId))));
		expect(late, "sent with the batch").not.toBeNull();
		expect((late as number) - (firstAt as number)).toBeGreaterThanOrEqual(BATCH_MS - 50);
	});

	it("still returns a lease whose idle flush went first, when LEASE_IDLE_MS is shorter than BATCH_MS", async () => {
		const { key, payer } = await newKey({ credit: 10n ** 18n });
		const keyHash = await hashApiKey(key);
		const env = { ...testEnv(), BATCH_MS: "300", LEASE_IDLE_MS: "100" };
		const config = readConfig(env);
		const ctx = createExecutionContext();
		const modelId = `idle-${crypto.randomUUID()}`;
		const req = { keyHash, payer, modelId, maxCost: 1_000_000n, maxTokens: 100 };
		// A request in flight keeps the lease open past its first scheduled flush.
		const first = await admit(env, ctx, config, req);
		await sleep(650);
		// The next one claims a flush due 300 ms on; both finish, and the idle flush reports them first.
		const second = await admit(env, ctx, config, req);
		first.finish(ctx, finishedRequest(payer, modelId));
		second.finish(ctx, finishedRequest(payer, modelId));
		// Before: the closing found the scheduled flush still due and gave up; that flush had
		// nothing left to send and never closed the lease, whose credit stayed held (30 s TTL).
		await vi.waitFor(async () => expect((await ledgerFor(testEnv(), payer).account()).held).toBe(0n), {
			timeout: 3_000,
			interval: 50,
		});
		expect((await ledgerFor(testEnv(), payer).account()).totalSpent).toBe(20n);
	});

	it("returns a lease to the ledger only after a report of it that is still on its way", async () => {
		const { key, payer } = await newKey({ credit: 10n ** 18n });
		const keyHash = await hashApiKey(key);
		const base = testEnv();
		// The ledger as the isolate sees it: a sync carrying records takes 600 ms (a busy object).
		const calls: Array<{ close: boolean; records: number; start: number; end?: number }> = [];
		const env = {
			...base,
			BATCH_MS: "200",
			LEASE_IDLE_MS: "100",
			ACCOUNT_LEDGER: {
				getByName(name: string) {
					const stub = base.ACCOUNT_LEDGER.getByName(name);
					return {
						sync: async (input: LeaseSyncInput) => {
							const call = { close: input.close, records: input.records.length, start: Date.now() } as (typeof calls)[number];
							calls.push(call);
							if (input.records.length > 0) await sleep(600);
							const result = await stub.sync(input);
							call.end = Date.now();
							return result;
						},
					};
				},
			},
		} as unknown as typeof base;
		const config = readConfig(env);
		const ctx = createExecutionContext();
		const modelId = `idle-${crypto.randomUUID()}`;
		const req = { keyHash, payer, modelId, maxCost: 1_000_000n, maxTokens: 100 };
		const first = await admit(env, ctx, config, req);
		await sleep(450);
		// The idle flush sends both finished requests (slow); the second's scheduled flush, 200 ms on,
		// finds only its admission to report, sends that, and goes on to return the idle lease.
		const second = await admit(env, ctx, config, req);
		first.finish(ctx, finishedRequest(payer, modelId));
		second.finish(ctx, finishedRequest(payer, modelId));
		await vi.waitFor(() => expect(calls.some((c) => c.close)).toBe(true), { timeout: 3_000, interval: 20 });
		const report = calls.find((c) => c.records === 2);
		const close = calls.find((c) => c.close);
		expect(report?.end, "the report was answered").toBeDefined();
		// Before: the close went out while the report was on its way, and the ledger took the
		// report's records under a lease it had already let go.
		expect(close?.start).toBeGreaterThanOrEqual(report?.end ?? Number.POSITIVE_INFINITY);
		await vi.waitFor(async () => expect((await ledgerFor(testEnv(), payer).account()).held).toBe(0n), {
			timeout: 3_000,
			interval: 50,
		});
		expect((await ledgerFor(testEnv(), payer).account()).totalSpent).toBe(20n);
	});
	it("counts a request with an Idempotency-Key as in flight: the isolate is idle once it ends", async () => {
		const { env, syncs, config, ctx, req, payer, modelId } = await quietLease();
		// What authorizeOnce (inference.ts) notes for a request the ledger admits itself.
		const keyed = trackRequest(env, config);
		const leased = await admit(env, ctx, config, req);
		const syncsBefore = syncs.length;
		leased.finish(ctx, finishedRequest(payer, modelId));
		await sleep(150);
		expect(
			syncs.slice(syncsBefore).some((s) => s.seqs.includes(seqOf(leased.requestId))),
			"not sent while the keyed request runs",
		).toBe(false);
		keyed.end(ctx);
		const synced = await within(BATCH_MS / 2, () =>
			syncs.slice(syncsBefore).some((s) => s.seqs.includes(seqOf(leased.requestId))),
		);
		expect(synced, "sent once the keyed request ended, before the batch timer").not.toBeNull();
	});

	/**
	 * A request admitted and left unfinished (`UPSTREAM_TOTAL_TIMEOUT_MS` as given, the client-gone wait
	 * 200 ms), then past its scheduled flush and a batch interval more, another one finishes: when its
	 * report reached the ledger (null: not within half a batch interval). The first one finishes last.
	 */
	async function reportBesideOld(totalTimeoutMs: string) {
		const quiet = await quietLease();
		const env = { ...quiet.env, UPSTREAM_TOTAL_TIMEOUT_MS: totalTimeoutMs, UPSTREAM_CLIENT_GONE_TIMEOUT_MS: "200" };
		const config = readConfig(env);
		const { syncs, ctx, req, payer, modelId } = quiet;
		const old = await admit(env, ctx, config, req);
		await sleep(2 * BATCH_MS + 200);
		const next = await admit(env, ctx, config, req);
		const syncsBefore = syncs.length;
		next.finish(ctx, finishedRequest(payer, modelId));
		const reported = await within(BATCH_MS / 2, () =>
			syncs.slice(syncsBefore).some((s) => s.seqs.includes(seqOf(next.requestId))),
		);
		old.finish(ctx, finishedRequest(payer, modelId));
		return reported;
	}

	it("keeps counting a request that may still be falling back through its upstreams", async () => {
		// Each attempt has its own deadline: with 8 upstreams, 8 x 400 + 200 ms; past one deadline is not gone.
		// Before: counted out after one deadline plus the client-gone wait (600 ms), and the report went at once.
		expect(await reportBesideOld("400"), "not sent at once: a request is still in flight").toBeNull();
	});

	it("stops counting a request the runtime never finished, once it is older than any request can run", async () => {
		// Any request ends within the total timeout of each of a model's (at most 8) upstreams, then the
		// wait for a client that left: 8 x 100 + 200 ms here. Before: the killed invocation kept the
		// isolate busy for good, and the report waited for the batch timer.
		expect(await reportBesideOld("100"), "sent at once: the isolate is idle").not.toBeNull();
	});
});
