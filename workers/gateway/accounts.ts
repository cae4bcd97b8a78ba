import { and, eq, isNull } from "drizzle-orm";
import type { KeyInfo } from "../../durable-objects/account-ledger.ts";
import type { Db } from "../../lib/db/client.ts";
import { apiKeys } from "../../lib/db/schema.ts";
import { hashApiKey, keyPrefix, newApiKey } from "../../lib/keys.ts";
import type { Env } from "./env.ts";
import { forgetKey } from "./leases.ts";

/** The payer's ledger Durable Object; payer addresses are lower-case hex. */
export function ledgerFor(env: Env, payer: string) {
	return env.ACCOUNT_LEDGER.getByName(payer.toLowerCase());
}

export interface IssueKeyOptions {
	name?: string;
	spendCap?: bigint | null;
	allowedModels?: string[] | null;
}

/**
 * Creates an API key for `payer`: registered in the payer's ledger (which the
 * request path checks) and listed in D1 (for the dashboard and admin). The
 * plaintext is returned once and stored nowhere.
 */
export async function issueApiKey(env: Env, db: Db, payer: string, options: IssueKeyOptions = {}) {
	const key = newApiKey(payer);
	const keyId = `key_${crypto.randomUUID().replace(/-/g, "")}`;
	const keyHash = await hashApiKey(key);
	const record = {
		keyId,
		keyHash,
		prefix: keyPrefix(key),
		name: options.name ?? "",
		spendCap: options.spendCap ?? null,
		allowedModels: options.allowedModels ?? null,
	};
	const info = await ledgerFor(env, payer).addKey(record);
	await db.insert(apiKeys).values({ id: keyId, keyHash, prefix: record.prefix, payer: payer.toLowerCase(), name: record.name });
	return { keyId, key, prefix: record.prefix, info };
}

/**
 * Revokes one of `payer`'s keys: first in the ledger (which the request path
 * checks; this isolate's lease of the key ends at once, other isolates' within
 * seconds), then in D1's listing. Returns the
 * key as revoked, or null when `payer` has no key `keyId`. Revoking again changes
 * nothing and repairs D1 if an earlier attempt stopped between the two writes.
 */
export async function revokeApiKey(env: Env, db: Db, payer: string, keyId: string): Promise<KeyInfo | null> {
	const key = await ledgerFor(env, payer).revokeKey(keyId);
	if (!key) return null;
	// This isolate stops at once; others at their lease's next sync (within LEASE_USE_MS).
	// Only for the payer's own key: another payer's key id must not close that payer's lease.
	forgetKey(keyId);
	await db
		.update(apiKeys)
		.set({ revokedAt: key.revokedAt })
		.where(and(eq(apiKeys.id, keyId), eq(apiKeys.payer, payer.toLowerCase()), isNull(apiKeys.revokedAt)));
	return key;
}
