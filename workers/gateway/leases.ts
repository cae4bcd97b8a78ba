import type { StoredResponse } from "../../durable-objects/account-ledger.ts";
import {
	LEASE_USE_MS,
	type LeaseAmounts,
	type LeaseRecord,
	type LeaseSyncResult,
	leaseRequestId,
	type RequestStatus,
	type UsageSource,
} from "../../durable-objects/lease-protocol.ts";
import type { UsageRecord } from "../../durable-objects/model-meter.ts";
import { randomHex } from "../../lib/keys.ts";
import { sleep } from "../../lib/sleep.ts";
import { ledgerFor } from "./accounts.ts";
import type { Config, Env } from "./env.ts";
import { ApiError } from "./errors.ts";
import { learnBreakerState } from "./upstreams/breaker.ts";
import { MAX_UPSTREAMS } from "./upstreams/index.ts";

// Credit and rate leases: the request path without a Durable Object round trip.
//
// Each isolate holds, per API key, a lease from the payer's AccountLedger: a slice
// of the payer's credit and of the key's requests and tokens per minute (the
// ledger counts the whole slice as used until the lease reports what it really
// used, so limits hold across isolates). Requests are admitted against the
// lease in memory; finished ones are reported in one `sync` per lease every
// `batchMs` (or as soon as MAX_BATCH are waiting), which also reports what is in flight (so GET /v1/generations/{id}
// can wait for exactly the requests that are still running) and tops the lease
// up before it runs dry. The ledger charges each request min(actual, hold) and
// never more than the lease was granted, so a payer can never be overspent.
// Meter records are batched per model the same way, after the ledger has said
// what each request was charged (the meter records exactly that).
//
// When the isolate has no request in flight, what is waiting goes at once (a
// millisecond after the last response), if its lease or model has sent nothing for
// `batchMs`: then the work lands in a pause between requests instead of at a
// moment that may fall in the middle of the next one, and holders' counters move
// sooner. A busy isolate is never idle, and batches as before; either way a lease
// or model sends at most about once per `batchMs`, and nothing waits longer than it did.
//
// Workers constraint: I/O (a Durable Object stub) belongs to the request that
// made it, so every flush runs in the waitUntil of a request that asked for it,
// and shared state here is plain data.

/** The part of an execution context flushes need: work that outlives the response. */
export interface Deferrer {
	waitUntil(promise: Promise<unknown>): void;
}

/** Records sent at once rather than after BATCH_MS once this many are waiting (per lease, per model). */
const MAX_BATCH = 64;

/** How much a lease asks for at once, in requests of the current size. */
const LEASE_BATCH = 32;

export interface Admission {
	requestId: string;
	/** Reports the finished request (exactly once); the charge follows in the next batch. */
	finish(ctx: Deferrer, outcome: FinishedRequest): void;
}

export interface FinishedRequest {
	modelId: string;
	payer: string;
	promptTokens: number;
	completionTokens: number;
	cost: bigint;
	status: RequestStatus;
	usageSource: UsageSource;
	createdAt: number;
	upstreams: Array<{ position: number; ok: boolean }>;
	/** Kept for Idempotency-Key replays (per-request path only). */
	response?: StoredResponse | null;
}

interface Pending {
	record: LeaseRecord;
	usage: Omit<UsageRecord, "fee">;
}

interface Admitted {
	hold: bigint;
	tokens: number;
}

class Lease {
	readonly leaseId = randomHex(8);
	/** The ledger has answered about this lease once (so it exists there, or was refused). */
	created = false;
	closed = false;
	keyId = "";
	allowedModels: string[] | null = null;
	readonly granted: LeaseAmounts = { credit: 0n, requests: 0, tokens: 0 };
	/** Charged + held, admitted requests, tokens used + held: what the lease has spent of its grant. */
	readonly used: LeaseAmounts = { credit: 0n, requests: 0, tokens: 0 };
	useUntil = 0;
	seq = 0;
	/** Syncs sent under this lease (each carries its number: which report is newest). */
	syncs = 0;
	readonly inFlight = new Map<number, Admitted>();
	pending: Pending[] = [];
	/** When the scheduled flush is due (0: none; see claimFlush). */
	flushDueAt = 0;
	/** When the last sync was sent (the batch interval counts from it). */
	lastSentAt = 0;
	/** Syncs of this lease on their way to the ledger (its return waits for them). */
	readonly syncing = new Set<Promise<unknown>>();
	refreshing = false;
	/** What the last admission would have asked for (the size of a top-up). */
	lastWant: LeaseAmounts = { credit: 0n, requests: 0, tokens: 0 };
	lastActivity = 0;
	reportedIssued = 0;

	constructor(
		readonly keyHash: string,
		readonly payer: string,
	) {}

	remaining(): LeaseAmounts {
		return {
			credit: this.granted.credit - this.used.credit,
			requests: this.granted.requests - this.used.requests,
			tokens: this.granted.tokens - this.used.tokens,
		};
	}

	/** Admissions in the last full second, and in the current one. */
	perSecond = 0;
	private secondStart = 0;
	private thisSecond = 0;

	countAdmission(now: number): void {
		if (now - this.secondStart >= 1000) {
			this.perSecond = now - this.secondStart < 2000 ? this.thisSecond : 0;
			this.secondStart = now;
			this.thisSecond = 0;
		}
		this.thisSecond += 1;
		if (this.thisSecond > this.perSecond) this.perSecond = this.thisSecond;
	}

	/** Less than 1/`fraction` of the last ask left (or of the admission window). */
	short(fraction: number): boolean {
		const left = this.remaining();
		const want = this.lastWant;
		return (
			left.credit * BigInt(fraction) < want.credit ||
			left.requests * fraction < want.requests ||
			left.tokens * fraction < want.tokens ||
			this.useUntil - Date.now() < LEASE_USE_MS / fraction
		);
	}

	fits(cost: bigint, tokens: number, now: number): boolean {
		const left = this.remaining();
		return !this.closed && now < this.useUntil && left.credit >= cost && left.requests >= 1 && left.tokens >= tokens;
	}

	learn(result: LeaseSyncResult): void {
		if (!result.lease) {
			this.close();
			return;
		}
		this.created = true;
		this.keyId = result.lease.keyId;
		this.allowedModels = result.lease.allowedModels;
		// Totals only grow; answers to concurrent syncs may arrive out of order.
		if (result.lease.credit > this.granted.credit) this.granted.credit = result.lease.credit;
		this.granted.requests = Math.max(this.granted.requests, result.lease.requests);
		this.granted.tokens = Math.max(this.granted.tokens, result.lease.tokens);
		this.useUntil = Math.max(this.useUntil, result.lease.useUntil);
	}

	close(): void {
		this.closed = true;
		if (leases.get(this.keyHash) === this) leases.delete(this.keyHash);
	}
}

const leases = new Map<string, Lease>();

/**
 * Requests in flight in this isolate, by when they began (none: the isolate is idle): those
 * admitted under a lease, and those with an Idempotency-Key, which the ledger admits itself.
 * An invocation the runtime ends before it settles never finishes here. So one older than any
 * request can run (the total timeout of every upstream tried in turn, then the wait for a
 * client that left) is presumed gone: it would otherwise keep the isolate from ever being idle
 * again. A live one counted out early only lets batches go while it runs (its credit hold is
 * its lease's, which is not returned while it is in flight).
 */
const inFlight = new Map<number, number>();
let lastRequest = 0;

/** Notes a request in flight; `end` (idempotent) ends it, and flushes what waits if the isolate is idle then. */
export function trackRequest(env: Env, config: Config): { end(ctx: Deferrer): void } {
	const id = ++lastRequest;
	inFlight.set(id, Date.now());
	return {
		end(ctx) {
			if (!inFlight.delete(id)) return;
			if (idle(config)) flushWhileIdle(env, ctx, config);
		},
	};
}

function idle(config: Config, now = Date.now()): boolean {
	const gone = MAX_UPSTREAMS * config.timeouts.totalMs + config.clientGoneMs;
	// Oldest first (a Map keeps insertion order): the first one still young settles it.
	for (const [id, since] of inFlight) {
		if (now - since < gone) return false;
		inFlight.delete(id);
	}
	return true;
}

/**
 * Admits one request under the key's lease in this isolate, syncing with the
 * ledger first only when there is no lease or it cannot cover the request.
 * Throws the API error (401/402/403/429) the ledger's refusal calls for.
 */
export async function admit(
	env: Env,
	ctx: Deferrer,
	config: Config,
	req: { keyHash: string; payer: string; modelId: string; maxCost: bigint; maxTokens: number },
): Promise<Admission> {
	for (let attempt = 0; ; attempt++) {
		let lease = leases.get(req.keyHash);
		if (!lease) {
			lease = new Lease(req.keyHash, req.payer.toLowerCase());
			leases.set(req.keyHash, lease);
		}
		if (!lease.fits(req.maxCost, req.maxTokens, Date.now())) {
			// It needs what this request lacks, and asks for what takes it back to a full batch: a
			// lease that only ran out of time (a long stream kept it open past LEASE_USE_MS) still
			// holds most of its grant, and a whole batch more each time would hoard the payer's credit.
			const left = lease.remaining();
			const need = shortfall({ credit: req.maxCost, requests: 1, tokens: req.maxTokens }, left);
			const result = await sync(env, ctx, config, lease, { need, want: shortfall(wantFor(lease, req), left) });
			// Concurrent syncs of the same lease may have topped it up meanwhile, or used the top-up first.
			if (!lease.fits(req.maxCost, req.maxTokens, Date.now())) {
				if (!result.refusal && attempt < 4) continue;
				// A lease the ledger no longer knows (it was idle past its TTL): open a new one.
				if (result.refusal?.code === "lease_unknown" && attempt < 2) continue;
				throw result.refusal
					? refusalError(result.refusal)
					: new ApiError("insufficient_quota", "Insufficient credit for this request right now; try again.");
			}
		}
		if (lease.allowedModels && !lease.allowedModels.includes(req.modelId)) {
			throw new ApiError("model_not_allowed", `This API key may not call the model '${req.modelId}'.`);
		}
		return admitUnder(env, ctx, config, lease, req);
	}
}

function admitUnder(
	env: Env,
	ctx: Deferrer,
	config: Config,
	lease: Lease,
	req: { maxCost: bigint; maxTokens: number },
): Admission {
	const seq = ++lease.seq;
	const tracked = trackRequest(env, config);
	lease.inFlight.set(seq, { hold: req.maxCost, tokens: req.maxTokens });
	lease.used.credit += req.maxCost;
	lease.used.requests += 1;
	lease.used.tokens += req.maxTokens;
	lease.lastActivity = Date.now();
	lease.countAdmission(lease.lastActivity);
	// Top up ahead of need: the next batch asks for more once the lease is half used; a
	// lease at a quarter (or about to end) asks at once, off the path.
	lease.lastWant = wantFor(lease, req);
	if (!lease.refreshing && lease.short(4)) {
		lease.refreshing = true;
		ctx.waitUntil(
			sync(env, ctx, config, lease, { need: null, want: lease.lastWant })
				.catch((err) => console.error("lease top-up failed", lease.leaseId, err))
				.finally(() => {
					lease.refreshing = false;
				}),
		);
	}
	// The ledger hears of every admission within one batch interval (for generations).
	scheduleFlush(env, ctx, config, lease);
	let finished = false;
	const requestId = leaseRequestId(lease.leaseId, seq);
	return {
		requestId,
		finish(finishCtx, outcome) {
			if (finished) return;
			finished = true;
			const admitted = lease.inFlight.get(seq);
			lease.inFlight.delete(seq);
			const hold = admitted?.hold ?? req.maxCost;
			const charge = outcome.cost < hold ? outcome.cost : hold;
			const tokens = outcome.promptTokens + outcome.completionTokens;
			lease.used.credit += charge - hold;
			lease.used.tokens += tokens - (admitted?.tokens ?? req.maxTokens);
			lease.lastActivity = Date.now();
			lease.pending.push({
				record: {
					seq,
					modelId: outcome.modelId,
					promptTokens: outcome.promptTokens,
					completionTokens: outcome.completionTokens,
					cost: outcome.cost,
					hold,
					status: outcome.status,
					usageSource: outcome.usageSource,
					createdAt: outcome.createdAt,
					finishedAt: Date.now(),
				},
				usage: usageOf(requestId, lease.keyId, outcome),
			});
			if (lease.pending.length >= MAX_BATCH) {
				// A full batch goes at once: many small transactions interleave with requests
				// on the objects' thread better than one long one every BATCH_MS.
				finishCtx.waitUntil(
					sync(env, finishCtx, config, lease, { need: null, want: null }).catch((err) => {
						// sync() has scheduled the retry.
						console.error("lease sync failed; retried with the next batch", lease.leaseId, err);
					}),
				);
			} else scheduleFlush(env, finishCtx, config, lease);
			tracked.end(finishCtx);
		},
	};
}

/** A finished request as its model's meter records it (the fee is what the ledger charged). */
export function usageOf(requestId: string, keyId: string, outcome: FinishedRequest): Omit<UsageRecord, "fee"> {
	return {
		requestId,
		keyId,
		payer: outcome.payer,
		promptTokens: outcome.promptTokens,
		completionTokens: outcome.completionTokens,
		status: outcome.status,
		usageSource: outcome.usageSource,
		createdAt: outcome.createdAt,
		upstreams: outcome.upstreams,
	};
}

/** What a lease asks for: LEASE_BATCH requests of this size, more while many are in flight or the key is busy (the ledger grants at most half of what is left). */
function wantFor(lease: Lease, req: { maxCost: bigint; maxTokens: number }): LeaseAmounts {
	// About a second of this key's traffic here, so a busy lease tops up about once a second.
	const batch = Math.max(LEASE_BATCH + 2 * lease.inFlight.size, lease.perSecond);
	return { credit: req.maxCost * BigInt(batch), requests: batch, tokens: req.maxTokens * batch };
}

/**
 * Sends the lease's finished requests and what is in flight, and optionally asks
 * for more; the records' charges then go to the models' meters. Records whose
 * sync fails stay pending for the next one (the ledger ignores ids it has seen).
 */
async function sync(
	env: Env,
	ctx: Deferrer,
	config: Config,
	lease: Lease,
	ask: { need: LeaseAmounts | null; want: LeaseAmounts | null },
	close = false,
): Promise<LeaseSyncResult> {
	const batch = lease.pending;
	lease.pending = [];
	const issued = lease.seq;
	lease.lastSentAt = Date.now();
	let result: LeaseSyncResult;
	let sent: Promise<LeaseSyncResult> | undefined;
	try {
		sent = ledgerFor(env, lease.payer).sync({
			leaseId: lease.leaseId,
			keyHash: lease.keyHash,
			create: !lease.created,
			records: batch.map((p) => p.record),
			issued,
			inFlight: [...lease.inFlight.keys()],
			snapshot: ++lease.syncs,
			need: ask.need,
			want: ask.want,
			requestsPerMinute: config.keyRequestsPerMinute,
			tokensPerMinute: config.keyTokensPerMinute,
			close,
			now: Date.now(),
		});
		lease.syncing.add(sent);
		result = await sent;
	} catch (err) {
		lease.pending = [...batch, ...lease.pending];
		// Whoever called (an admission's need, a top-up, a generation lookup) only learns it
		// failed: the records go out with the lease's next flush, which may already have run
		// while this sync was on its way.
		// A closed lease is flushed only by this (it is no longer in `leases`): its records too.
		if (!lease.closed || lease.pending.length > 0) scheduleFlush(env, ctx, config, lease);
		throw err;
	} finally {
		if (sent) lease.syncing.delete(sent);
	}
	// Admissions made while the sync was on its way are reported by the next one.
	lease.reportedIssued = Math.max(lease.reportedIssued, issued);
	if (!close || result.lease) lease.learn(result);
	if (result.refusal?.code === "invalid_api_key") lease.close();
	// The meter records what the ledger charged, so settled fees equal what payers paid. Its
	// batches go out on their own (no caller of sync waits for them, admissions included).
	for (const [i, p] of batch.entries()) {
		enqueueUsage(env, ctx, config, p.record.modelId, { ...p.usage, fee: result.charges[i] ?? 0n });
	}
	if (batch.length > 0 && idle(config)) sendIdleMeterBatches(env, ctx, config);
	return result;
}

/** One flush per lease per batch interval, run in the waitUntil of the request that asked for it. */
function scheduleFlush(env: Env, ctx: Deferrer, config: Config, lease: Lease): void {
	if (!claimFlush(lease, config.batchMs)) return;
	ctx.waitUntil(
		(async () => {
			await sleep(config.batchMs);
			lease.flushDueAt = 0;
			await flushLease(env, ctx, config, lease);
		})(),
	);
}

/**
 * Sends what the lease has to report, if anything; then returns it once it stays idle (also when
 * another sync took the report: a closing that found this flush still due gave up on it).
 */
async function flushLease(env: Env, ctx: Deferrer, config: Config, lease: Lease): Promise<void> {
	if (hasReport(lease)) {
		try {
			// The batch asks for a top-up once the lease is half used.
			await sync(env, ctx, config, lease, { need: null, want: lease.short(2) ? lease.lastWant : null });
		} catch (err) {
			// sync() has scheduled the retry.
			console.error("lease sync failed; retried with the next batch", lease.leaseId, err);
			return;
		}
	}
	await closeWhenIdle(env, ctx, config, lease);
}

/** Finished requests, or admissions, the ledger has not heard of yet. */
function hasReport(lease: Lease): boolean {
	return lease.pending.length > 0 || lease.reportedIssued !== lease.seq;
}

/**
 * The isolate has no request in flight: the leases with something to report go now
 * (their meter batches follow from their syncs), those that sent nothing for `batchMs`.
 * A millisecond on, so the response that made it idle is out first; not if a request
 * came meanwhile. The others' scheduled flushes still run.
 */
function flushWhileIdle(env: Env, ctx: Deferrer, config: Config): void {
	ctx.waitUntil(
		sleep(1).then(() => {
			if (!idle(config)) return;
			const now = Date.now();
			const flushes: Promise<void>[] = [];
			for (const lease of leases.values()) {
				if (hasReport(lease) && now >= lease.lastSentAt + config.batchMs) flushes.push(flushLease(env, ctx, config, lease));
			}
			sendIdleMeterBatches(env, ctx, config);
			return Promise.all(flushes);
		}),
	);
}

/** Returns an unused lease to the ledger once nothing has happened under it for `leaseIdleMs`. */
async function closeWhenIdle(env: Env, ctx: Deferrer, config: Config, lease: Lease): Promise<void> {
	if (lease.inFlight.size > 0 || lease.pending.length > 0 || lease.closed) return;
	const idleSince = lease.lastActivity;
	await sleep(config.leaseIdleMs);
	// Not ahead of a sync still on its way (a report, or an admission's): the ledger would take its
	// records, or grant its need, under a lease it had already let go.
	while (lease.syncing.size > 0) await Promise.allSettled([...lease.syncing]);
	if (
		lease.lastActivity !== idleSince ||
		lease.inFlight.size > 0 ||
		lease.pending.length > 0 ||
		lease.closed ||
		lease.flushDueAt !== 0
	)
		return;
	lease.close();
	await sync(env, ctx, config, lease, { need: null, want: null }, true).catch((err) =>
		console.error("lease close failed; the ledger lets it go after its TTL", lease.leaseId, err),
	);
}

/** Drops this isolate's leases of a key (after a revocation made here); other isolates stop at their next sync. */
export function forgetKey(keyId: string): void {
	for (const lease of leases.values()) if (lease.keyId === keyId) lease.close();
}

/** Reports the key's finished requests now (GET /v1/generations/{id} calls this before asking the ledger). */
export async function flushKey(env: Env, ctx: Deferrer, config: Config, keyHash: string): Promise<void> {
	const lease = leases.get(keyHash);
	if (lease && (lease.pending.length > 0 || lease.reportedIssued !== lease.seq)) {
		await sync(env, ctx, config, lease, { need: null, want: null });
	}
}

// ── Meter batches ───────────────────────────────────────────────────────────

const meterQueues = new Map<string, MeterQueue>();

/** Queues a charged request for its model's meter: sent with the model's batch (at once when it is full), retried until taken. */
export function enqueueUsage(env: Env, ctx: Deferrer, config: Config, modelId: string, usage: UsageRecord): void {
	let queue = meterQueues.get(modelId);
	if (!queue) {
		queue = { usages: [], flushDueAt: 0, lastSentAt: 0 };
		meterQueues.set(modelId, queue);
	}
	queue.usages.push(usage);
	if (queue.usages.length >= MAX_BATCH) ctx.waitUntil(sendMeterBatch(env, ctx, config, modelId, queue));
	else scheduleMeterBatch(env, ctx, config, modelId, queue);
}

type MeterQueue = { usages: UsageRecord[]; flushDueAt: number; lastSentAt: number };

/** The isolate is idle: every model's waiting records go now, where the model sent nothing for `batchMs`. */
function sendIdleMeterBatches(env: Env, ctx: Deferrer, config: Config): void {
	const now = Date.now();
	for (const [modelId, queue] of meterQueues) {
		if (queue.usages.length > 0 && now >= queue.lastSentAt + config.batchMs) {
			ctx.waitUntil(sendMeterBatch(env, ctx, config, modelId, queue));
		}
	}
}

function scheduleMeterBatch(env: Env, ctx: Deferrer, config: Config, modelId: string, queue: MeterQueue): void {
	if (!claimFlush(queue, config.batchMs)) return;
	ctx.waitUntil(
		sleep(config.batchMs).then(() => {
			queue.flushDueAt = 0;
			return sendMeterBatch(env, ctx, config, modelId, queue);
		}),
	);
}

/** Sends what the queue holds; a failed batch goes back to the front of the queue and is tried again. */
async function sendMeterBatch(env: Env, ctx: Deferrer, config: Config, modelId: string, queue: MeterQueue): Promise<void> {
	const usages = queue.usages;
	queue.usages = [];
	if (usages.length === 0) return;
	queue.lastSentAt = Date.now();
	try {
		const { breaker } = await env.MODEL_METER.getByName(modelId).recordBatch(modelId, usages);
		learnBreakerState(modelId, breaker);
	} catch (err) {
		console.error("meter batch failed; retried with the next batch", modelId, err);
		queue.usages = [...usages, ...queue.usages];
		scheduleMeterBatch(env, ctx, config, modelId, queue);
	}
}

// ── Helpers ─────────────────────────────────────────────────────────────────

/**
 * A flush runs in the waitUntil of the request that scheduled it, and the runtime may end
 * that before it runs (a waitUntil lives about 30 s past its response; a retry chain through
 * an outage outlives it). A flush this long past its due time is presumed lost, and the
 * next caller schedules another: a "scheduled" flag would otherwise stay set for good, and
 * the lease or model would never flush again. A late flush that does run is only a second
 * sync of the same records, which the ledger and the meter take once.
 */
const FLUSH_LOST_AFTER_MS = 1_000;

/** Whether the caller should schedule a flush of `holder` now (and then it counts as scheduled). */
function claimFlush(holder: { flushDueAt: number }, delayMs: number, now = Date.now()): boolean {
	if (holder.flushDueAt !== 0 && now < holder.flushDueAt + FLUSH_LOST_AFTER_MS) return false;
	holder.flushDueAt = now + delayMs;
	return true;
}

function refusalError(refusal: NonNullable<LeaseSyncResult["refusal"]>): ApiError {
	if (refusal.code === "rate_limit_exceeded") {
		return new ApiError(refusal.code, refusal.message, { headers: { "retry-after": String(refusal.retryAfterSeconds) } });
	}
	if (refusal.code === "lease_unknown") return new ApiError("internal_error", "Could not open a credit lease; try again.");
	return new ApiError(refusal.code, refusal.message);
}

/** What `want` asks for beyond what is `left`. */
function shortfall(want: LeaseAmounts, left: LeaseAmounts): LeaseAmounts {
	const credit = want.credit - left.credit;
	return {
		credit: credit > 0n ? credit : 0n,
		requests: Math.max(0, want.requests - left.requests),
		tokens: Math.max(0, want.tokens - left.tokens),
	};
}
