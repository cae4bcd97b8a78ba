import type { Db } from "./client.ts";
import { usage } from "./schema.ts";

export type UsageRow = typeof usage.$inferInsert;

/**
 * Writes usage rows; a row whose request id is already there is skipped, so a
 * flush that is retried after a crash inserts nothing twice.
 */
export async function insertUsage(db: Db, rows: UsageRow[]): Promise<void> {
	if (rows.length === 0) return;
	// D1 caps bound parameters per statement at 100; 9 columns a row leaves 11 rows a statement.
	const chunkSize = 11;
	const statements = [];
	for (let i = 0; i < rows.length; i += chunkSize) {
		statements.push(
			db
				.insert(usage)
				.values(rows.slice(i, i + chunkSize))
				.onConflictDoNothing(),
		);
	}
	const [first, ...rest] = statements;
	if (first) await db.batch([first, ...rest]);
}
