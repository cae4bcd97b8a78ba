import { DurableObject } from "cloudflare:workers";
import { openDb } from "../lib/db/client.ts";
import { insertUsage, type UsageRow } from "../lib/db/usage.ts";

// One ModelMeter per model (named by the model id). It owns the model's live
// counters and a durable usage log in its own SQLite storage; an alarm flushes
// the log to D1 in batches. D1 rows are keyed by request id, so a flush that is
// retried after a crash or eviction inserts nothing twice.

export interface UsageRecord {
	requestId: string;
	keyId: string;
	payer: string;
	promptTokens: number;
	completionTokens: number;
	/** Fee in PACA base units. */
	fee: bigint;
	status: "ok" | "error";
	createdAt: number;
}

export interface MeterCounters {
	requests: number;
	errors: number;
	promptTokens: number;
	completionTokens: number;
	/** Fees in PACA base units. */
	fees: bigint;
}

/** How long the log may wait before a flush: batches writes to D1, bounds staleness there. */
const FLUSH_DELAY_MS = 1_000;
const FLUSH_BATCH = 500;

interface LogRow extends Record<string, SqlStorageValue> {
	request_id: string;
	key_id: string;
	payer: string;
	prompt_tokens: number;
	completion_tokens: number;
	fee: string;
	status: string;
	created_at: number;
}

export class ModelMeter extends DurableObject<Cloudflare.Env> {
	private readonly sql: SqlStorage;

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
					created_at INTEGER NOT NULL,
					flushed INTEGER NOT NULL DEFAULT 0
				);
				CREATE INDEX IF NOT EXISTS usage_log_unflushed ON usage_log (flushed, created_at);
				CREATE TABLE IF NOT EXISTS counters (
					id INTEGER PRIMARY KEY CHECK (id = 1),
					requests INTEGER NOT NULL, errors INTEGER NOT NULL,
					prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
					fees TEXT NOT NULL
				);
				INSERT OR IGNORE INTO counters VALUES (1, 0, 0, 0, 0, '0');
			`);
		});
	}

	/** The model this meter belongs to; set on first use so the alarm knows it. */
	private setModelId(modelId: string): void {
		this.sql.exec("INSERT OR IGNORE INTO meta (key, value) VALUES ('model_id', ?)", modelId);
	}

	private modelId(): string | null {
		return this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'model_id'").toArray()[0]?.value ?? null;
	}

	/**
	 * Records one finished request: appends it to the durable log, moves the
	 * counters, and schedules a flush. A request id seen before changes nothing.
	 */
	async record(modelId: string, usage: UsageRecord): Promise<{ recorded: boolean }> {
		this.setModelId(modelId);
		const inserted = this.sql.exec(
			`INSERT OR IGNORE INTO usage_log
				(request_id, key_id, payer, prompt_tokens, completion_tokens, fee, status, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			usage.requestId,
			usage.keyId,
			usage.payer,
			usage.promptTokens,
			usage.completionTokens,
			usage.fee.toString(),
			usage.status,
			usage.createdAt,
		).rowsWritten;
		if (inserted === 0) return { recorded: false };
		const counters = this.counters();
		this.sql.exec(
			`UPDATE counters SET requests = requests + 1, errors = errors + ?,
				prompt_tokens = prompt_tokens + ?, completion_tokens = completion_tokens + ?, fees = ? WHERE id = 1`,
			usage.status === "error" ? 1 : 0,
			usage.promptTokens,
			usage.completionTokens,
			(counters.fees + usage.fee).toString(),
		);
		if ((await this.ctx.storage.getAlarm()) === null) {
			await this.ctx.storage.setAlarm(Date.now() + FLUSH_DELAY_MS);
		}
		return { recorded: true };
	}

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

	/** Rows not yet in D1; the alarm drains these. */
	pendingFlush(): number {
		return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM usage_log WHERE flushed = 0").one().n;
	}

	override async alarm(): Promise<void> {
		const modelId = this.modelId();
		if (!modelId) return;
		const rows = this.sql
			.exec<LogRow>(
				`SELECT request_id, key_id, payer, prompt_tokens, completion_tokens, fee, status, created_at
				FROM usage_log WHERE flushed = 0 ORDER BY created_at LIMIT ?`,
				FLUSH_BATCH,
			)
			.toArray();
		if (rows.length === 0) return;
		// If D1 fails, the alarm throws and the runtime retries it with backoff; the
		// rows stay unflushed, and D1's primary key absorbs any partial earlier write.
		await insertUsage(
			openDb(this.env.DB),
			rows.map((r) => toUsageRow(modelId, r)),
		);
		for (const r of rows) this.sql.exec("UPDATE usage_log SET flushed = 1 WHERE request_id = ?", r.request_id);
		if (rows.length === FLUSH_BATCH) await this.ctx.storage.setAlarm(Date.now());
	}
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
		createdAt: r.created_at,
	};
}
