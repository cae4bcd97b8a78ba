import { chunksOf, type Db } from "./client.ts";
import type { usage, usageHourly } from "./schema.ts";

export type UsageRow = typeof usage.$inferInsert;
export type HourlyRow = typeof usageHourly.$inferInsert;

/**
 * Rows a statement: they travel as one JSON parameter (D1 allows 100 bound parameters
 * a statement, so a multi-row VALUES list held 10 rows of 10 columns and a 500-row
 * flush built ~50 statements in JavaScript, a long stall on a busy thread).
 */
const ROWS_PER_STATEMENT = 200;

// `WHERE true`: SQLite's grammar needs it between INSERT … SELECT and ON CONFLICT.
const INSERT_USAGE = `INSERT INTO usage (request_id, key_id, payer, model_id, prompt_tokens, completion_tokens, fee, status, usage_source, created_at)
	SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8, value ->> 9
	FROM json_each(?) WHERE true
	ON CONFLICT (request_id) DO NOTHING`;

const UPSERT_HOURLY = `INSERT INTO usage_hourly (model_id, payer, hour, requests, errors, prompt_tokens, completion_tokens, fees)
	SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7
	FROM json_each(?) WHERE true
	ON CONFLICT (model_id, payer, hour) DO UPDATE SET
		requests = excluded.requests, errors = excluded.errors, prompt_tokens = excluded.prompt_tokens,
		completion_tokens = excluded.completion_tokens, fees = excluded.fees`;

/** Runs `sql` (one `?`: a JSON array of row tuples) for `rows`, ROWS_PER_STATEMENT a statement, in one D1 batch. */
async function writeAsJson(db: Db, sql: string, rows: unknown[][]): Promise<void> {
	if (rows.length === 0) return;
	await db.$client.batch(chunksOf(rows, ROWS_PER_STATEMENT).map((part) => db.$client.prepare(sql).bind(JSON.stringify(part))));
}

/**
 * Writes usage rows; a row whose request id is already there is skipped, so a
 * flush that is retried after a crash inserts nothing twice.
 */
export function insertUsage(db: Db, rows: UsageRow[]): Promise<void> {
	return writeAsJson(
		db,
		INSERT_USAGE,
		rows.map((r) => [
			r.requestId,
			r.keyId,
			r.payer,
			r.modelId,
			r.promptTokens,
			r.completionTokens,
			r.fee.toString(),
			r.status,
			r.usageSource,
			r.createdAt,
		]),
	);
}

/**
 * Writes hourly rollups as absolute totals (the meter owns the numbers), so
 * writing the same hour twice leaves the same row.
 */
export function upsertHourly(db: Db, rows: HourlyRow[]): Promise<void> {
	return writeAsJson(
		db,
		UPSERT_HOURLY,
		rows.map((r) => [r.modelId, r.payer, r.hour, r.requests, r.errors, r.promptTokens, r.completionTokens, r.fees.toString()]),
	);
}
