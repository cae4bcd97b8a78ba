import type { BatchItem } from "drizzle-orm/batch";
import { drizzle } from "drizzle-orm/d1";
import * as schema from "./schema.ts";

export type Db = ReturnType<typeof openDb>;

export function openDb(d1: D1Database) {
	return drizzle(d1, { schema });
}

/** `items` in consecutive pieces of at most `size` (D1 bounds parameters per statement and statements per batch). */
export function chunksOf<T>(items: T[], size: number): T[][] {
	const out: T[][] = [];
	for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
	return out;
}

/** Runs `statements` as one D1 batch (one transaction); does nothing when there are none. */
export async function batch(db: Db, statements: BatchItem<"sqlite">[]): Promise<void> {
	const [first, ...rest] = statements;
	if (first) await db.batch([first, ...rest]);
}
