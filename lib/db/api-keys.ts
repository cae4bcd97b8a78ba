import { and, eq, isNull } from "drizzle-orm";
import { hashApiKey, keyPrefix, newApiKey } from "../keys.ts";
import type { Db } from "./client.ts";
import { apiKeys } from "./schema.ts";

export interface ApiKeyRecord {
	id: string;
	payer: string;
}

/** Creates a key for `payer` and returns the plaintext once; only its hash is stored. */
export async function createApiKey(db: Db, payer: string, name = ""): Promise<{ id: string; key: string }> {
	const key = newApiKey(payer);
	const id = `key_${crypto.randomUUID().replace(/-/g, "")}`;
	await db.insert(apiKeys).values({
		id,
		keyHash: await hashApiKey(key),
		prefix: keyPrefix(key),
		payer: payer.toLowerCase(),
		name,
	});
	return { id, key };
}

export async function findActiveKey(db: Db, key: string): Promise<ApiKeyRecord | null> {
	const row = await db
		.select({ id: apiKeys.id, payer: apiKeys.payer })
		.from(apiKeys)
		.where(and(eq(apiKeys.keyHash, await hashApiKey(key)), isNull(apiKeys.revokedAt)))
		.get();
	return row ?? null;
}
