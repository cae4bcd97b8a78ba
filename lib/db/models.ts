import { asc, eq } from "drizzle-orm";
import type { Db } from "./client.ts";
import { models, modelUpstreams } from "./schema.ts";

export type UpstreamRecord = typeof modelUpstreams.$inferSelect;
export type ModelRecord = typeof models.$inferSelect & { upstreams: UpstreamRecord[] };

/** An enabled model with its upstreams in order, or null when it does not exist or is disabled. */
export async function findRoutableModel(db: Db, id: string): Promise<ModelRecord | null> {
	const rows = await db
		.select()
		.from(models)
		.leftJoin(modelUpstreams, eq(modelUpstreams.modelId, models.id))
		.where(eq(models.id, id))
		.orderBy(asc(modelUpstreams.position))
		.all();
	const first = rows[0];
	if (!first?.models.enabled) return null;
	const upstreams = rows.flatMap((r) => (r.model_upstreams ? [r.model_upstreams] : []));
	return { ...first.models, upstreams };
}

export interface NewModel {
	id: string;
	displayName: string;
	inputPricePerM: bigint;
	outputPricePerM: bigint;
	hfRepo?: string;
	hfRevision?: string;
	tokenAddress?: string;
	maxOutputTokens?: number;
	upstreams: Array<Omit<UpstreamRecord, "modelId" | "position">>;
}

/** Registers a model and replaces its upstream list in one batch. */
export async function upsertModel(db: Db, model: NewModel): Promise<void> {
	const { upstreams, ...row } = model;
	await db.batch([
		db.insert(models).values(row).onConflictDoUpdate({ target: models.id, set: row }),
		db.delete(modelUpstreams).where(eq(modelUpstreams.modelId, model.id)),
		...upstreams.map((u, position) => db.insert(modelUpstreams).values({ ...u, modelId: model.id, position })),
	]);
}
