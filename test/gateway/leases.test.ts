import { createExecutionContext, evictDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import type { LeaseRecord, LeaseSyncInput } from "../../durable-objects/lease-protocol.ts";
import { LEASE_USE_MS, leaseRequestId, parseLeaseRequestId } from "../../durable-objects/lease-protocol.ts";
import { hashApiKey } from "../../lib/keys.ts";
import { ledgerFor } from "../../workers/gateway/accounts.ts";
import { readConfig } from "../../workers/gateway/env.ts";
import { admit, forgetKey } from "../../workers/gateway/leases.ts";
import { finishedRequest, newKey, newModel, testEnv } from "../helpers/fixtures.ts";
import { callGateway, flushMeter, openGateway, usageRowsForModel } from "../helpers/gateway.ts";

// Credit and rate leases (workers/gateway/leases.ts ↔ AccountLedger.sync). The other
// gateway tests run with BATCH_MS=0 and LEASE_IDLE_MS=0; here the ledger is driven
// as two isolates would drive it, and the gateway runs with the production delays.

const PRODUCTION = { BATCH_MS: "200", LEASE_IDLE_MS: "300" };
const ledger = (payer: string) => ledgerFor(testEnv(), payer);

function leaseId(): string {
	return [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Syncs made here are numbered as an isolate numbers them: each newer than the last. */
let snapshots = 0;

function syncInput(keyHash: string, id: string, over: Partial<LeaseSyncInput> = {}): LeaseSyncInput {
	return {
		snapshot: ++snapshots,
		leaseId: id,
		keyHash,
		create: true,
		records: [],
		issued: 0,
		inFlight: [],
		need: null,
		want: null,
		requestsPerMinute: 1_000,
		tokensPerMinute: 1_000_000,
		close: false,
		now: Date.now(),
		...over,
	};
}

function record(seq: number, cost: bigint, hold: bigint, over: Partial<LeaseRecord> = {}): LeaseRecord {
	const now = Date.now();
	return {
		seq,
		modelId: "m",
		promptTokens: 10,
		completionTokens: 5,
		cost,
		hold,
		status: "ok",
		usageSource: "upstream",
		createdAt: now,
		finishedAt: now,
		...over,
	};
}

const amounts = (credit: bigint, requests = 1, tokens = 100) => ({ credit, requests, tokens });

/**
 * The gateway's env with production delays and the payers' ledgers as the isolate sees them,
 * except that the sync after `failNextSync()` fails (after `delayMs`), as an overloaded or
 * reset object's would.
 */
function withFailingSync(delayMs: number) {
	let failNext = false;
	let failed = 0;
	const base = testEnv();
	const env = {
		...base,
		...PRODUCTION,
		ACCOUNT_LEDGER: {
			getByName(name: string) {
				const stub = base.ACCOUNT_LEDGER.getByName(name);
				return {
					sync: async (input: LeaseSyncInput) => {
						if (!failNext) return stub.sync(input);
						failNext = false;
						failed++;
						if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
						throw new Error("ledger reset");
					},
				};
			},
		},
	} as unknown as typeof base;
	return {
		env,
		failNextSync: () => {
			failNext = true;
		},
		failures: () => failed,
	};
}

describe("AccountLedger leases (two isolates)", () => {
	it("never grants more than is available, leaves room for others, and refuses whole when a need cannot be met", async () => {
		const { key, payer } = await newKey({ credit: 1_000n });
		const keyHash = await hashApiKey(key);
		const a = leaseId();
		const b = leaseId();
		const first = await ledger(payer).sync(syncInput(keyHash, a, { need: amounts(100n), want: amounts(10_000n) }));
		// Wants more than there is: gets half of what is available.
		expect(first.refusal).toBeNull();
		expect(first.lease?.credit).toBe(500n);
		const second = await ledger(payer).sync(syncInput(keyHash, b, { need: amounts(100n), want: amounts(10_000n) }));
		expect(second.lease?.credit).toBe(250n);
		expect((await ledger(payer).account()).available).toBe(250n);
		// Needs more than is left: refused, nothing granted, no lease opened.
		const third = await ledger(payer).sync(syncInput(keyHash, leaseId(), { need: amounts(300n), want: amounts(300n) }));
		expect(third.refusal?.code).toBe("insufficient_quota");
		expect(third.lease).toBeNull();
		expect((await ledger(payer).account()).available).toBe(250n);
	});

	it("charges reported requests min(cost, hold), once per request id, never above the lease's grant", async () => {
		const { key, payer } = await newKey({ credit: 1_000n });
		const keyHash = await hashApiKey(key);
		const id = leaseId();
		await ledger(payer).sync(syncInput(keyHash, id, { need: amounts(200n), want: amounts(200n) }));
		const batch = [record(1, 50n, 80n), record(2, 120n, 100n), record(3, 90n, 90n)];
		const first = await ledger(payer).sync(syncInput(keyHash, id, { create: false, records: batch, issued: 3 }));
		// 50; capped at its hold: 100; then only 50 of the grant is left.
		expect(first.charges).toEqual([50n, 100n, 50n]);
		const again = await ledger(payer).sync(syncInput(keyHash, id, { create: false, records: batch, issued: 3 }));
		expect(again.charges).toEqual([50n, 100n, 50n]);
		const account = await ledger(payer).account();
		expect(account.totalSpent).toBe(200n);
		expect(account.balance).toBe(800n);
		expect(account.held).toBe(0n);
		const generation = await ledger(payer).generation(keyHash, leaseRequestId(id, 2), 0);
		expect(generation).toMatchObject({ cost: 100n, promptTokens: 10, completionTokens: 5 });
	});

	it("gives unused credit back on close, and takes back a silent lease after its TTL", async () => {
		const { key, payer } = await newKey({ credit: 1_000n });
		const keyHash = await hashApiKey(key);
		const closing = leaseId();
		await ledger(payer).sync(syncInput(keyHash, closing, { need: amounts(100n), want: amounts(100n) }));
		await ledger(payer).sync(
			syncInput(keyHash, closing, { create: false, records: [record(1, 30n, 100n)], issued: 1, close: true }),
		);
		expect(await ledger(payer).account()).toMatchObject({ held: 0n, balance: 970n });

		const silent = leaseId();
		const t0 = Date.now();
		await ledger(payer).sync(syncInput(keyHash, silent, { need: amounts(400n), want: amounts(400n), now: t0 }));
		expect((await ledger(payer).account()).held).toBe(400n);
		// 31 s later (past the 30 s TTL of a lease with nothing in flight) it is gone...
		const late = await ledger(payer).sync(
			syncInput(keyHash, silent, { create: false, need: amounts(1n), want: amounts(1n), now: t0 + 31_000 }),
		);
		expect(late.refusal?.code).toBe("lease_unknown");
		expect((await ledger(payer).account()).held).toBe(0n);
		// ...and a record it still reports is charged from what is available, once.
		const charged = await ledger(payer).sync(
			syncInput(keyHash, silent, { create: false, records: [record(1, 70n, 400n)], issued: 1, now: t0 + 32_000 }),
		);
		expect(charged.charges).toEqual([70n]);
		expect((await ledger(payer).account()).balance).toBe(900n);
	});

	it("keeps a lease with requests in flight past the idle TTL", async () => {
		const { key, payer } = await newKey({ credit: 1_000n });
		const keyHash = await hashApiKey(key);
		const id = leaseId();
		const t0 = Date.now();
		await ledger(payer).sync(syncInput(keyHash, id, { need: amounts(300n), want: amounts(300n), now: t0 }));
		await ledger(payer).sync(syncInput(keyHash, id, { create: false, issued: 1, inFlight: [1], now: t0 + 100 }));
		const later = await ledger(payer).sync(
			syncInput(keyHash, id, { create: false, records: [record(1, 250n, 300n)], issued: 1, now: t0 + 120_000 }),
		);
		expect(later.charges).toEqual([250n]);
		expect(later.lease?.credit).toBe(300n);
	});

	it("keeps the newest report of what is running when two syncs of a lease arrive out of order", async () => {
		const { key, payer } = await newKey({ credit: 1_000n });
		const keyHash = await hashApiKey(key);
		const id = leaseId();
		await ledger(payer).sync(syncInput(keyHash, id, { need: amounts(300n), want: amounts(300n) }));
		// The isolate sent a top-up while request 1 ran, then a batch once request 1 had
		// finished and request 2 was running; the batch arrives first.
		const first = syncInput(keyHash, id, { create: false, issued: 1, inFlight: [1], want: amounts(100n) });
		const second = syncInput(keyHash, id, { create: false, records: [record(1, 50n, 100n)], issued: 2, inFlight: [2] });
		await ledger(payer).sync(second);
		await ledger(payer).sync(first);
		// Request 2 is still running: its generation waits for it rather than answering "not found".
		const generation = ledger(payer).generation(keyHash, leaseRequestId(id, 2), 5_000);
		await new Promise((resolve) => setTimeout(resolve, 50));
		await ledger(payer).sync(syncInput(keyHash, id, { create: false, records: [record(2, 70n, 100n)], issued: 2 }));
		expect(await generation).toMatchObject({ requestId: leaseRequestId(id, 2), cost: 70n });
	});

	it("closes a revoked key's leases at their next sync, still charging what they report", async () => {
		const { key, payer, id: keyId } = await newKey({ credit: 1_000n });
		const keyHash = await hashApiKey(key);
		const id = leaseId();
		await ledger(payer).sync(syncInput(keyHash, id, { need: amounts(100n), want: amounts(100n) }));
		await ledger(payer).revokeKey(keyId);
		const next = await ledger(payer).sync(
			syncInput(keyHash, id, { create: false, records: [record(1, 40n, 100n)], issued: 1, need: amounts(1n) }),
		);
		expect(next.refusal?.code).toBe("invalid_api_key");
		expect(next.lease).toBeNull();
		expect(next.charges).toEqual([40n]);
		expect(await ledger(payer).account()).toMatchObject({ held: 0n, balance: 960n });
	});

	it("grants nothing more to a revoked key's lease with requests in flight, even after the ledger restarted", async () => {
		const { key, payer, id: keyId } = await newKey({ credit: 1_000n });
		const keyHash = await hashApiKey(key);
		const id = leaseId();
		await ledger(payer).sync(syncInput(keyHash, id, { need: amounts(100n), want: amounts(100n), issued: 1, inFlight: [1] }));
		await ledger(payer).revokeKey(keyId);
		await evictDurableObject(testEnv().ACCOUNT_LEDGER.get(testEnv().ACCOUNT_LEDGER.idFromName(payer)));
		const next = await ledger(payer).sync(
			syncInput(keyHash, id, { create: false, issued: 2, inFlight: [1, 2], want: amounts(100n) }),
		);
		expect(next.refusal?.code).toBe("invalid_api_key");
		expect(next.lease).toBeNull();
		// The request still in flight is charged when it reports.
		const last = await ledger(payer).sync(syncInput(keyHash, id, { create: false, records: [record(1, 40n, 100n)], issued: 2 }));
		expect(last.charges).toEqual([40n]);
	});

	it("keeps a revoked key's lease with requests in flight as charged, across a restart, never above its grant", async () => {
		const { key, payer, id: keyId } = await newKey({ credit: 1_000n });
		const keyHash = await hashApiKey(key);
		const id = leaseId();
		await ledger(payer).sync(syncInput(keyHash, id, { need: amounts(100n), want: amounts(100n), issued: 2, inFlight: [1, 2] }));
		await ledger(payer).revokeKey(keyId);
		// Request 1 is charged 40 of the grant; request 2 still runs, so the lease stays.
		const first = await ledger(payer).sync(
			syncInput(keyHash, id, { create: false, records: [record(1, 40n, 100n)], issued: 2, inFlight: [2] }),
		);
		expect(first.charges).toEqual([40n]);
		await evictDurableObject(testEnv().ACCOUNT_LEDGER.get(testEnv().ACCOUNT_LEDGER.idFromName(payer)));
		// After the restart the lease holds what is left of its grant, not all of it.
		expect(await ledger(payer).account()).toMatchObject({ balance: 960n, held: 60n, available: 900n });
		const last = await ledger(payer).sync(syncInput(keyHash, id, { create: false, records: [record(2, 100n, 100n)], issued: 2 }));
		expect(last.charges).toEqual([60n]);
		expect(await ledger(payer).account()).toMatchObject({ balance: 900n, held: 0n, totalSpent: 100n });
	});

	it("keeps a key within its spend cap when a lease the ledger let go of reports late", async () => {
		const { key, payer } = await newKey({ credit: 1_000n, spendCap: 100n });
		const keyHash = await hashApiKey(key);
		const t0 = Date.now();
		const silent = leaseId();
		const granted = await ledger(payer).sync(syncInput(keyHash, silent, { need: amounts(100n), want: amounts(100n), now: t0 }));
		expect(granted.lease?.credit).toBe(100n);
		// Silent past its TTL: the ledger takes the grant back, and another lease gets the cap's room.
		const other = leaseId();
		const regranted = await ledger(payer).sync(
			syncInput(keyHash, other, { need: amounts(100n), want: amounts(100n), now: t0 + 31_000 }),
		);
		expect(regranted.lease?.credit).toBe(100n);
		await ledger(payer).sync(
			syncInput(keyHash, other, { create: false, records: [record(1, 100n, 100n)], issued: 1, now: t0 + 31_100 }),
		);
		// The silent isolate comes back with a request it admitted: the key has no cap room left.
		const late = await ledger(payer).sync(
			syncInput(keyHash, silent, { create: false, records: [record(1, 80n, 100n)], issued: 1, now: t0 + 31_200 }),
		);
		expect(late.charges).toEqual([0n]);
		const [info] = await ledger(payer).listKeys();
		expect(info?.spent).toBe(100n);
		expect((await ledger(payer).account()).totalSpent).toBe(100n);
	});

	it("counts what leases may still use against the key's requests per minute, across leases", async () => {
		const { key, payer } = await newKey({ credit: 1_000_000n });
		const keyHash = await hashApiKey(key);
		const limits = { requestsPerMinute: 10 };
		const a = await ledger(payer).sync(
			syncInput(keyHash, leaseId(), { ...limits, need: amounts(1n, 1), want: amounts(10n, 10) }),
		);
		expect(a.lease?.requests).toBe(5);
		const b = await ledger(payer).sync(
			syncInput(keyHash, leaseId(), { ...limits, need: amounts(1n, 1), want: amounts(10n, 10) }),
		);
		expect(b.lease?.requests).toBe(2);
		const used = 5 + 2;
		for (let i = used; i < 10; i++) {
			const c = await ledger(payer).sync(
				syncInput(keyHash, leaseId(), { ...limits, need: amounts(1n, 1), want: amounts(1n, 1) }),
			);
			expect(c.refusal).toBeNull();
		}
		const over = await ledger(payer).sync(syncInput(keyHash, leaseId(), { ...limits, need: amounts(1n, 1) }));
		expect(over.refusal?.code).toBe("rate_limit_exceeded");
		expect(over.refusal?.message).toContain("requests per minute");
		expect(over.refusal?.retryAfterSeconds).toBeGreaterThan(0);
	});
});

describe("the gateway under leases, with production batch delays", () => {
	it("answers GET /v1/generations/{id} right after the response, before the batch went out", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const { response, done } = await openGateway("/v1/chat/completions", {
			key,
			env: PRODUCTION,
			json: { model, max_tokens: 3, messages: [{ role: "user", content: "gen" }] },
		});
		const id = response.headers.get("x-request-id") ?? "";
		const body = await response.json<{ usage: { completion_tokens: number } }>();
		// Asked of the ledger directly (as from another isolate, which cannot flush this one's batch):
		// the ledger knows the request is in its lease and waits for the batch.
		const started = Date.now();
		const fromLedger = await ledger(payer).generation(await hashApiKey(key), id);
		expect(fromLedger).toMatchObject({ requestId: id, completionTokens: body.usage.completion_tokens, status: "ok" });
		expect(Date.now() - started).toBeLessThan(2_000);
		await done();
		// Through the API, with the lease closed meanwhile: same answer.
		const gen = await callGateway(`/v1/generations/${id}`, { key });
		expect(gen.json()).toMatchObject({ id, completion_tokens: body.usage.completion_tokens });
	});

	it("answers 404 for a made-up id under a live lease once the lease has reported, without waiting it out", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const { response, done } = await openGateway("/v1/chat/completions", {
			key,
			env: PRODUCTION,
			json: { model, max_tokens: 2, messages: [{ role: "user", content: "one" }] },
		});
		const id = response.headers.get("x-request-id") ?? "";
		await response.text();
		// The same lease, a sequence number it never issued.
		const fake = leaseRequestId(parseLeaseRequestId(id).leaseId, 9);
		const started = Date.now();
		expect(await ledger(payer).generation(await hashApiKey(key), fake, 10_000)).toBeNull();
		expect(Date.now() - started).toBeLessThan(3_000);
		await done();
	});

	it("renews a lease that only ran out of time without holding another batch of the payer's credit", async () => {
		const { key, payer } = await newKey({ credit: 10n ** 18n });
		const keyHash = await hashApiKey(key);
		const env = { ...testEnv(), ...PRODUCTION };
		const config = readConfig(env);
		const ctx = createExecutionContext();
		const maxCost = 1_000_000n;
		const req = { keyHash, payer, modelId: "m", maxCost, maxTokens: 100 };
		const first = await admit(env, ctx, config, req);
		const heldBefore = (await ledger(payer).account()).held;
		expect(heldBefore).toBeGreaterThanOrEqual(32n * maxCost);
		// A long request keeps the lease open past its admission window; the next request
		// must sync first, but the lease still holds nearly all it was granted.
		vi.useFakeTimers({ toFake: ["Date"] });
		try {
			vi.setSystemTime(Date.now() + LEASE_USE_MS + 1_000);
			const second = await admit(env, ctx, config, req);
			const heldAfter = (await ledger(payer).account()).held;
			// It asks for the little that takes it back to a full batch (before: a whole batch more).
			expect(heldAfter - heldBefore).toBeLessThan(8n * maxCost);
			for (const a of [first, second]) {
				a.finish(ctx, finishedRequest(payer));
			}
		} finally {
			vi.useRealTimers();
		}
		await waitOnExecutionContext(ctx);
		expect(await ledger(payer).account()).toMatchObject({ held: 0n, totalSpent: 20n });
	});

	it("still reports a finished request when the sync that took it fails after the lease's flush ran", async () => {
		const { key, payer } = await newKey({ credit: 10n ** 18n });
		const keyHash = await hashApiKey(key);
		// The ledger as the isolate sees it, with one sync that fails after 400 ms (an overloaded or reset object).
		const { env, failNextSync } = withFailingSync(400);
		const config = readConfig(env);
		const ctx = createExecutionContext();
		const maxCost = 1_000_000n;
		const first = await admit(env, ctx, config, { keyHash, payer, modelId: "m", maxCost, maxTokens: 100 });
		first.finish(ctx, finishedRequest(payer));
		// A request the lease cannot cover syncs at once, taking the finished one along; that sync
		// fails after the lease's own flush (BATCH_MS) found nothing to send.
		failNextSync();
		await expect(
			admit(env, ctx, config, { keyHash, payer, modelId: "m", maxCost: 1000n * maxCost, maxTokens: 100 }),
		).rejects.toThrow("ledger reset");
		await waitOnExecutionContext(ctx);
		expect(await ledger(payer).account()).toMatchObject({ held: 0n, totalSpent: 10n });
	});

	it("retries the records of a lease closed while they ran (a revoked key) when their sync fails", async () => {
		const { id: keyId, key, payer } = await newKey({ credit: 10n ** 18n });
		const keyHash = await hashApiKey(key);
		const { env, failNextSync, failures } = withFailingSync(0);
		const config = readConfig(env);
		const ctx = createExecutionContext();
		const running = await admit(env, ctx, config, { keyHash, payer, modelId: "m", maxCost: 1_000_000n, maxTokens: 100 });
		// Revoked in this isolate while the request runs: its lease closes here at once.
		forgetKey(keyId);
		failNextSync();
		running.finish(ctx, finishedRequest(payer));
		await waitOnExecutionContext(ctx);
		expect(failures()).toBe(1);
		expect((await ledger(payer).account()).totalSpent).toBe(10n);
	});

	it("flushes a lease again when its scheduled flush was lost with the waitUntil that held it", async () => {
		const { key, payer } = await newKey({ credit: 10n ** 18n });
		const keyHash = await hashApiKey(key);
		const env = { ...testEnv(), ...PRODUCTION };
		const config = readConfig(env);
		const req = { keyHash, payer, modelId: "m", maxCost: 1_000_000n, maxTokens: 100 };
		const outcome = finishedRequest(payer);
		// The first request's flush sleeps on a timer that never fires: the runtime ended its
		// request's waitUntil first (fake timers, dropped when real ones come back).
		const gone = { waitUntil() {} };
		vi.useFakeTimers({ toFake: ["setTimeout"] });
		try {
			(await admit(env, gone, config, req)).finish(gone, outcome);
		} finally {
			vi.useRealTimers();
		}
		await new Promise((r) => setTimeout(r, 1_500));
		const ctx = createExecutionContext();
		(await admit(env, ctx, config, req)).finish(ctx, outcome);
		await waitOnExecutionContext(ctx);
		expect(await ledger(payer).account()).toMatchObject({ held: 0n, totalSpent: 20n });
	});

	it("charges, meters and releases exactly once per request when many share a batch, or fill one (64)", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const calls = await Promise.all(
			Array.from({ length: 150 }, (_, i) =>
				callGateway("/v1/chat/completions", {
					key,
					env: { ...PRODUCTION, KEY_REQUESTS_PER_MINUTE: "1000" },
					json: { model, max_tokens: 2, messages: [{ role: "user", content: `batch ${i}` }] },
				}),
			),
		);
		expect(calls.every((c) => c.status === 200)).toBe(true);
		const account = await ledger(payer).account();
		// Every request charged (the lease closed after LEASE_IDLE_MS, so nothing is held).
		expect(account.held).toBe(0n);
		await flushMeter(model);
		const rows = await usageRowsForModel(model);
		expect(rows).toHaveLength(150);
		expect(new Set(rows.map((r) => r.requestId)).size).toBe(150);
		expect(rows.reduce((s, r) => s + r.fee, 0n)).toBe(account.totalSpent);
		expect(account.totalSpent).toBeGreaterThan(0n);
	});
});
