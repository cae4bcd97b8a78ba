import { sql } from "drizzle-orm";
import { batch, type Db } from "./client.ts";
import { usage, usageHourly } from "./schema.ts";

export type UsageRow = typeof usage.$inferInsert;
export type HourlyRow = typeof usageHourly.$inferInsert;

/**
 * Writes usage rows; a row whose request id is already there is skipped, so a
 * flush that is retried after a crash inserts nothing twice.
 */
export async function insertUsage(db: Db, rows: UsageRow[]): Promise<void> {
	if (rows.length === 0) return;
	// D1 caps bound parameters per statement at 100; 10 columns a row leaves 10 rows a statement.
	const chunkSize = 10;
	const statements = [];
	for (let i = 0; i < rows.length; i += chunkSize) {
		statements.push(
			db
				.insert(usage)
				.values(rows.slice(i, i + chunkSize))
				.onConflictDoNothing(),
		);
	}
	await batch(db, statements);
}

/**
 * Writes hourly rollups as absolute totals (the meter owns the numbers), so
 * writing the same hour twice leaves the same row.
 */
export async function upsertHourly(db: Db, rows: HourlyRow[]): Promise<void> {
	if (rows.length === 0) return;
	const statements = rows.map((row) =>
		db
			.insert(usageHourly)
			.values(row)
			.onConflictDoUpdate({
				target: [usageHourly.modelId, usageHourly.payer, usageHourly.hour],
				set: {
					requests: sql`excluded.requests`,
					errors: sql`excluded.errors`,
					promptTokens: sql`excluded.prompt_tokens`,
					completionTokens: sql`excluded.completion_tokens`,
					fees: sql`excluded.fees`,
				},
			}),
	);
	await batch(db, statements);
}
