import { DurableObject } from "cloudflare:workers";
import { openDb } from "../lib/db/client.ts";
import { type HourlyRow, insertUsage, type UsageRow, upsertHourly } from "../lib/db/usage.ts";
import { METER_FLUSH_DELAY_MS } from "../lib/meter-timing.ts";
import type { RequestStatus, UsageSource } from "./lease-protocol.ts";

// One ModelMeter per model (named by the model id). It owns:
//   - a durable usage log (SQLite), flushed to D1 by an alarm in batches; D1 rows
//     are keyed by request id, so a retried flush inserts nothing twice;
//   - all-time counters and per-payer hourly rollups (also upserted to D1);
//   - last-minute rates, served by `stats()` and pushed to WebSocket subscribers
//     (hibernatable, at most 4 updates a second);
//   - a circuit breaker per upstream position, fed by every request's outcome.
// The gateway sends finished requests in batches (`recordBatch`), a few times a second per isolate.

export interface UsageRecord {
	requestId: string;
	keyId: string;
	payer: string;
	promptTokens: number;
	completionTokens: number;
	/** Fee in PACA base units. */
	fee: bigint;
	status: RequestStatus;
	usageSource: UsageSource;
	createdAt: number;
	/** Each upstream the request tried, in order, and whether it served: the breaker's input. */
	upstreams?: Array<{ position: number; ok: boolean }>;
}

export interface MeterCounters {
	requests: number;
	errors: number;
	promptTokens: number;
	completionTokens: number;
	/** Fees in PACA base units. */
	fees: bigint;
}

export interface MeterStats {
	modelId: string | null;
	total: MeterCounters;
	lastMinute: MeterCounters;
	updatedAt: number;
}

export interface BreakerState {
	/** Upstream position → time until which it is skipped (0 when closed). */
	openUntil: Record<number, number>;
}

const FLUSH_BATCH = 500;
/** Flushed log rows are kept this long for `stats` recovery, then dropped (D1 has them). */
const LOG_RETENTION_MS = 60 * 60_000;
const BROADCAST_INTERVAL_MS = 250;
const BREAKER_THRESHOLD = 3;
const BREAKER_OPEN_MS = 30_000;
const HOUR_MS = 3_600_000;
/** A failed flush is retried after METER_FLUSH_DELAY_MS, doubling per failure up to this. */
const FLUSH_RETRY_MAX_MS = 60_000;

interface LogRow extends Record<string, SqlStorageValue> {
	request_id: string;
	key_id: string;
	payer: string;
	prompt_tokens: number;
	completion_tokens: number;
	fee: string;
	status: string;
	usage_source: string;
	created_at: number;
}

export class ModelMeter extends DurableObject<Cloudflare.Env> {
	private readonly sql: SqlStorage;
	/** Per-second buckets of the last minute, rebuilt from the log after a restart. */
	private readonly seconds = new Map<number, MeterCounters>();
	/** `bump` has dropped the buckets before this second. */
	private prunedBefore = 0;
	private broadcastTimer: ReturnType<typeof setTimeout> | null = null;
	private lastBroadcast = 0;
	/** Flushes failed in a row (in memory: after an eviction the backoff starts over). */
	private flushFailures = 0;
	/** The meta row naming the model is written once per object lifetime (it never changes). */
	private modelIdStored = false;

	constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
		super(ctx, env);
		this.sql = ctx.storage.sql;
		ctx.blockConcurrencyWhile(async () => {
			this.sql.exec(`
				CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
				CREATE TABLE IF NOT EXISTS usage_log (
					request_id TEXT PRIMARY KEY,
					key_id TEXT NOT NULL,
					payer TEXT NOT NULL,
					prompt_tokens INTEGER NOT NULL,
					completion_tokens INTEGER NOT NULL,
					fee TEXT NOT NULL,
					status TEXT NOT NULL,
					usage_source TEXT NOT NULL,
					created_at INTEGER NOT NULL,
					flushed INTEGER NOT NULL DEFAULT 0
				);
				CREATE INDEX IF NOT EXISTS usage_log_unflushed ON usage_log (flushed, created_at);
				CREATE INDEX IF NOT EXISTS usage_log_time ON usage_log (created_at);
				CREATE TABLE IF NOT EXISTS counters (
					id INTEGER PRIMARY KEY CHECK (id = 1),
					requests INTEGER NOT NULL, errors INTEGER NOT NULL,
					prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
					fees TEXT NOT NULL
				);
				INSERT OR IGNORE INTO counters VALUES (1, 0, 0, 0, 0, '0');
				CREATE TABLE IF NOT EXISTS hourly (
					hour INTEGER NOT NULL, payer TEXT NOT NULL,
					requests INTEGER NOT NULL, errors INTEGER NOT NULL,
					prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
					fees TEXT NOT NULL, dirty INTEGER NOT NULL DEFAULT 1,
					PRIMARY KEY (hour, payer)
				);
				CREATE TABLE IF NOT EXISTS breaker (
					position INTEGER PRIMARY KEY, failures INTEGER NOT NULL, open_until INTEGER NOT NULL
				);
			`);
			const since = Date.now() - 60_000;
			for (const row of this.sql.exec<LogRow>("SELECT * FROM usage_log WHERE created_at > ?", since)) {
				this.bump(row.created_at, toCounters(row));
			}
		});
	}

	// ── Recording (after the response, in batches from the gateway's isolates) ──

	/**
	 * Records one finished request: appends it to the durable log, moves the
	 * counters and rollups, updates the upstream's breaker and schedules a flush.
	 * A request id seen before changes nothing. Returns the breaker state so the
	 * calling isolate can skip open upstreams without asking.
	 */
	async record(modelId: string, usage: UsageRecord): Promise<{ recorded: boolean; breaker: BreakerState }> {
		const { recorded, breaker } = await this.recordBatch(modelId, [usage]);
		return { recorded: recorded === 1, breaker };
	}

	/**
	 * Records a batch of finished requests (the gateway sends each isolate's
	 * requests of the last ~200 ms in one call); same rules as `record`, one
	 * storage transaction for the lot. Returns how many were new.
	 */
	async recordBatch(modelId: string, usages: UsageRecord[]): Promise<{ recorded: number; breaker: BreakerState }> {
		this.nameModel(modelId);
		const now = Date.now();
		let recorded = 0;
		let batch = zero();
		// Rollups and breaker outcomes are summed per key in memory and written once per key.
		const hours = new Map<string, { hour: number; payer: string; delta: MeterCounters }>();
		const outcomes = new Map<number, boolean[]>();
		for (const usage of usages) {
			const inserted = this.sql.exec(
				`INSERT OR IGNORE INTO usage_log
					(request_id, key_id, payer, prompt_tokens, completion_tokens, fee, status, usage_source, created_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				usage.requestId,
				usage.keyId,
				usage.payer,
				usage.promptTokens,
				usage.completionTokens,
				usage.fee.toString(),
				usage.status,
				usage.usageSource,
				usage.createdAt,
			).rowsWritten;
			// Seen before (a retried batch): its upstream outcomes were counted then too.
			if (inserted === 0) continue;
			recorded += 1;
			for (const tried of usage.upstreams ?? []) {
				const list = outcomes.get(tried.position) ?? [];
				list.push(tried.ok);
				outcomes.set(tried.position, list);
			}
			const delta: MeterCounters = {
				requests: 1,
				errors: usage.status === "error" ? 1 : 0,
				promptTokens: usage.promptTokens,
				completionTokens: usage.completionTokens,
				fees: usage.fee,
			};
			batch = add(batch, delta);
			const hour = Math.floor(usage.createdAt / HOUR_MS) * HOUR_MS;
			const group = hours.get(`${hour}/${usage.payer}`) ?? { hour, payer: usage.payer, delta: zero() };
			group.delta = add(group.delta, delta);
			hours.set(`${hour}/${usage.payer}`, group);
		}
		for (const [position, oks] of outcomes) this.updateBreaker(position, oks, now);
		if (recorded > 0) {
			const total = add(this.counters(), batch);
			this.sql.exec(
				"UPDATE counters SET requests = ?, errors = ?, prompt_tokens = ?, completion_tokens = ?, fees = ? WHERE id = 1",
				total.requests,
				total.errors,
				total.promptTokens,
				total.completionTokens,
				total.fees.toString(),
			);
			for (const { hour, payer, delta } of hours.values()) this.addToHour(hour, payer, delta);
			this.bump(now, batch);
			this.scheduleBroadcast();
			if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + METER_FLUSH_DELAY_MS);
		}
		return { recorded, breaker: this.breaker() };
	}

	// ── Reads ───────────────────────────────────────────────────────────────

	counters(): MeterCounters {
		const row = this.sql
			.exec<{ requests: number; errors: number; prompt_tokens: number; completion_tokens: number; fees: string }>(
				"SELECT requests, errors, prompt_tokens, completion_tokens, fees FROM counters WHERE id = 1",
			)
			.one();
		return {
			requests: row.requests,
			errors: row.errors,
			promptTokens: row.prompt_tokens,
			completionTokens: row.completion_tokens,
			fees: BigInt(row.fees),
		};
	}

	stats(now = Date.now()): MeterStats {
		const fromSecond = Math.floor(now / 1000) - 59;
		this.dropSecondsBefore(fromSecond);
		let lastMinute = zero();
		for (const bucket of this.seconds.values()) lastMinute = add(lastMinute, bucket);
		const modelId = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'model_id'").toArray()[0]?.value ?? null;
		return { modelId, total: this.counters(), lastMinute, updatedAt: now };
	}

	/** Rows not yet in D1; the alarm drains these. */
	pendingFlush(): number {
		return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM usage_log WHERE flushed = 0").one().n;
	}

	breaker(): BreakerState {
		const openUntil: Record<number, number> = {};
		for (const row of this.sql.exec<{ position: number; open_until: number }>("SELECT position, open_until FROM breaker")) {
			openUntil[row.position] = row.open_until;
		}
		return { openUntil };
	}

	// ── Live feed (hibernatable WebSockets) ─────────────────────────────────

	override async fetch(request: Request): Promise<Response> {
		if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
			return new Response("expected a WebSocket upgrade", { status: 426 });
		}
		// The gateway names the model (the object's name), so a model never called yet is named
		// in the first message too; recordBatch stores the same id otherwise.
		const named = request.headers.get(MODEL_HEADER);
		if (named) this.nameModel(named);
		const { 0: client, 1: server } = new WebSocketPair();
		this.ctx.acceptWebSocket(server);
		server.send(stringifyStats(this.stats()));
		return new Response(null, { status: 101, webSocket: client });
	}

	/** Stores the model's id (the object's name) once per object lifetime; the first one stored stays. */
	private nameModel(modelId: string): void {
		if (this.modelIdStored) return;
		this.sql.exec("INSERT OR IGNORE INTO meta (key, value) VALUES ('model_id', ?)", modelId);
		this.modelIdStored = true;
	}

	override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
		// Subscribers only listen; "ping" gets the current numbers at once.
		if (message === "ping") ws.send(stringifyStats(this.stats()));
	}

	override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
		// 1005 (no code given), 1006 (dropped without a close frame) and 1015 (TLS failure) are
		// only ever reported, never sent, and close() throws on them as on codes outside
		// 1000-4999. Those get a normal 1000; any other code is echoed.
		const sendable = code >= 1000 && code <= 4999 && code !== 1005 && code !== 1006 && code !== 1015;
		ws.close(sendable ? code : 1000, "bye");
	}

	/** Coalesces updates: at most one broadcast per BROADCAST_INTERVAL_MS, the last one always sent. */
	private scheduleBroadcast(): void {
		if (this.broadcastTimer !== null || this.ctx.getWebSockets().length === 0) return;
		const wait = Math.max(0, this.lastBroadcast + BROADCAST_INTERVAL_MS - Date.now());
		this.broadcastTimer = setTimeout(() => {
			this.broadcastTimer = null;
			this.lastBroadcast = Date.now();
			const message = stringifyStats(this.stats());
			for (const ws of this.ctx.getWebSockets()) {
				try {
					ws.send(message);
				} catch {
					// a socket closing under us; the runtime tells us in webSocketClose
				}
			}
		}, wait);
	}

	// ── Flush to D1 ─────────────────────────────────────────────────────────

	override async alarm(): Promise<void> {
		let more: boolean;
		try {
			more = await this.flush();
		} catch (err) {
			// The runtime retries a throwing alarm only a few times (about two minutes); a longer
			// D1 outage would leave the rows here until the model's next request. So the meter
			// re-arms itself, backing off to once a minute, until a flush goes through.
			this.flushFailures += 1;
			const delay = Math.min(FLUSH_RETRY_MAX_MS, METER_FLUSH_DELAY_MS * 2 ** (this.flushFailures - 1));
			console.error(`meter flush failed (${this.flushFailures} in a row); next try in ${delay} ms`, err);
			await this.ctx.storage.setAlarm(Date.now() + delay);
			return;
		}
		this.flushFailures = 0;
		if (more) await this.ctx.storage.setAlarm(Date.now());
	}

	/** Sends a batch of the log and the dirty rollups to D1; true when more of the log waits. */
	private async flush(): Promise<boolean> {
		const modelId = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'model_id'").toArray()[0]?.value;
		if (!modelId) return false;
		const db = openDb(this.env.DB);
		const rows = this.sql
			.exec<LogRow>(
				`SELECT request_id, key_id, payer, prompt_tokens, completion_tokens, fee, status, usage_source, created_at
				FROM usage_log WHERE flushed = 0 ORDER BY created_at LIMIT ?`,
				FLUSH_BATCH,
			)
			.toArray();
		// If D1 fails, `alarm` arms a retry; rows stay unflushed here, and D1's primary key
		// absorbs whatever an earlier try wrote.
		await insertUsage(
			db,
			rows.map((r) => toUsageRow(modelId, r)),
		);
		this.sql.exec(
			"UPDATE usage_log SET flushed = 1 WHERE request_id IN (SELECT value FROM json_each(?))",
			JSON.stringify(rows.map((r) => r.request_id)),
		);

		const hours = this.sql
			.exec<{
				hour: number;
				payer: string;
				requests: number;
				errors: number;
				prompt_tokens: number;
				completion_tokens: number;
				fees: string;
			}>("SELECT hour, payer, requests, errors, prompt_tokens, completion_tokens, fees FROM hourly WHERE dirty = 1")
			.toArray();
		await upsertHourly(
			db,
			hours.map(
				(h): HourlyRow => ({
					modelId,
					payer: h.payer,
					hour: h.hour,
					requests: h.requests,
					errors: h.errors,
					promptTokens: h.prompt_tokens,
					completionTokens: h.completion_tokens,
					fees: BigInt(h.fees),
				}),
			),
		);
		// A batch recorded while the upsert was in flight (input gates open during D1 I/O) may have
		// added to a row we sent: that row stays dirty for the next flush. Every addition raises
		// `requests`, so an unchanged count means D1 now holds exactly this row's totals.
		for (const h of hours) {
			this.sql.exec("UPDATE hourly SET dirty = 0 WHERE hour = ? AND payer = ? AND requests = ?", h.hour, h.payer, h.requests);
		}

		this.sql.exec("DELETE FROM usage_log WHERE flushed = 1 AND created_at < ?", Date.now() - LOG_RETENTION_MS);
		return rows.length === FLUSH_BATCH;
	}

	// ── Internals ───────────────────────────────────────────────────────────

	private addToHour(hour: number, payer: string, delta: MeterCounters): void {
		const row = this.sql.exec<{ fees: string }>("SELECT fees FROM hourly WHERE hour = ? AND payer = ?", hour, payer).toArray()[0];
		const fees = (row ? BigInt(row.fees) : 0n) + delta.fees;
		this.sql.exec(
			`INSERT INTO hourly (hour, payer, requests, errors, prompt_tokens, completion_tokens, fees, dirty)
				VALUES (?, ?, ?, ?, ?, ?, ?, 1)
				ON CONFLICT (hour, payer) DO UPDATE SET requests = requests + excluded.requests, errors = errors + excluded.errors,
				prompt_tokens = prompt_tokens + excluded.prompt_tokens, completion_tokens = completion_tokens + excluded.completion_tokens,
				fees = ?, dirty = 1`,
			hour,
			payer,
			delta.requests,
			delta.errors,
			delta.promptTokens,
			delta.completionTokens,
			fees.toString(),
			fees.toString(),
		);
	}

	/**
	 * Adds to the bucket of `at`'s second. Buckets older than a minute are dropped here, once a
	 * second, not only when `stats` reads them: unread, they piled up one a second for good.
	 */
	private bump(at: number, delta: MeterCounters): void {
		const second = Math.floor(at / 1000);
		const fromSecond = Math.floor(Date.now() / 1000) - 59;
		if (second < fromSecond) return;
		this.seconds.set(second, add(this.seconds.get(second) ?? zero(), delta));
		if (fromSecond > this.prunedBefore) {
			this.prunedBefore = fromSecond;
			this.dropSecondsBefore(fromSecond);
		}
	}

	private dropSecondsBefore(fromSecond: number): void {
		for (const second of this.seconds.keys()) if (second < fromSecond) this.seconds.delete(second);
	}

	/** Applies an upstream's outcomes, in order: 3 failures in a row open it for 30 s; a success closes it. */
	private updateBreaker(position: number, oks: boolean[], now: number): void {
		const row = this.sql.exec<{ failures: number }>("SELECT failures FROM breaker WHERE position = ?", position).toArray()[0];
		let failures = row?.failures ?? 0;
		let openUntil = 0;
		for (const ok of oks) {
			failures = ok ? 0 : failures + 1;
			openUntil = failures >= BREAKER_THRESHOLD ? now + BREAKER_OPEN_MS : 0;
		}
		if (failures === 0) {
			if (row) this.sql.exec("DELETE FROM breaker WHERE position = ?", position);
			return;
		}
		this.sql.exec(
			"INSERT OR REPLACE INTO breaker (position, failures, open_until) VALUES (?, ?, ?)",
			position,
			failures,
			openUntil,
		);
	}
}

function zero(): MeterCounters {
	return { requests: 0, errors: 0, promptTokens: 0, completionTokens: 0, fees: 0n };
}

function add(a: MeterCounters, b: MeterCounters): MeterCounters {
	return {
		requests: a.requests + b.requests,
		errors: a.errors + b.errors,
		promptTokens: a.promptTokens + b.promptTokens,
		completionTokens: a.completionTokens + b.completionTokens,
		fees: a.fees + b.fees,
	};
}

function toCounters(r: LogRow): MeterCounters {
	return {
		requests: 1,
		errors: r.status === "error" ? 1 : 0,
		promptTokens: r.prompt_tokens,
		completionTokens: r.completion_tokens,
		fees: BigInt(r.fee),
	};
}

/** The header the gateway's /live route names the model with (the meter is reached only through bindings). */
export const MODEL_HEADER = "x-modeldex-model";

/**
 * The public shape of a meter's numbers, shared by GET /v1/models/{id}/stats and the
 * live WebSocket: snake_case like the rest of the API, fees as decimal strings of
 * base units (JSON has no bigint).
 */
export function publicStats(stats: MeterStats) {
	const counters = (c: MeterCounters) => ({
		requests: c.requests,
		errors: c.errors,
		prompt_tokens: c.promptTokens,
		completion_tokens: c.completionTokens,
		fees: c.fees.toString(),
	});
	return {
		model: stats.modelId ?? "",
		total: counters(stats.total),
		last_minute: counters(stats.lastMinute),
		updated_at: stats.updatedAt,
	};
}

function stringifyStats(stats: MeterStats): string {
	return JSON.stringify(publicStats(stats));
}

function toUsageRow(modelId: string, r: LogRow): UsageRow {
	return {
		requestId: r.request_id,
		keyId: r.key_id,
		payer: r.payer,
		modelId,
		promptTokens: r.prompt_tokens,
		completionTokens: r.completion_tokens,
		fee: BigInt(r.fee),
		status: r.status === "error" ? "error" : "ok",
		usageSource: r.usage_source === "upstream" ? "upstream" : r.usage_source === "counted" ? "counted" : "none",
		createdAt: r.created_at,
	};
}
