import { asc, eq } from "drizzle-orm";
import type { Db } from "./client.ts";
import { models } from "./schema.ts";

export type CatalogModel = typeof models.$inferSelect;

/** Enabled models for the public catalogue, in a stable order. */
export function listEnabledModels(db: Db): Promise<CatalogModel[]> {
	return db.select().from(models).where(eq(models.enabled, true)).orderBy(asc(models.id)).all();
}

export async function findEnabledModel(db: Db, id: string): Promise<CatalogModel | null> {
	const row = await db.select().from(models).where(eq(models.id, id)).get();
	return row?.enabled ? row : null;
}
