import { z } from "zod";
import type { KeyInfo } from "../../../durable-objects/account-ledger.ts";
import { issueApiKey, ledgerFor, revokeApiKey } from "../accounts.ts";
import type { App } from "../app.ts";
import { readJsonBody } from "../body.ts";
import { readConfig } from "../env.ts";
import { ApiError } from "../errors.ts";
import { newSignInNonce, requireSession, signIn } from "../session.ts";

// A wallet's own account: sign in with Ethereum, then manage the API keys that
// spend its credit and read its balance. Account routes take a session token
// (session.ts), never an API key; keys and balances live in the payer's ledger.
// Money leaves as decimal strings of PACA base units; times as Unix seconds.

/** A decimal string of base units: digits only, at most uint256's 78. */
export const BaseUnits = z
	.string()
	.regex(/^(0|[1-9][0-9]{0,77})$/, "must be a decimal string of base units (digits only, no sign, point or exponent)")
	.transform((text) => BigInt(text));

const VerifyBody = z.strictObject({
	message: z.string().min(1).max(4096),
	signature: z
		.string()
		.regex(/^0x([0-9a-fA-F]{128}|[0-9a-fA-F]{130})$/, "must be a 0x-prefixed 64- or 65-byte hex signature")
		.transform((s) => s as `0x${string}`),
});

const ModelName = z.string().min(1).max(200);

const CreateKeyBody = z.strictObject({
	name: z.string().max(100).optional(),
	/** Lifetime spend cap of the key; absent or null for none. */
	spend_cap: BaseUnits.nullable().optional(),
	/** Model ids the key may call; absent or null for all. An empty list would be a key that can call nothing. */
	allowed_models: z
		.array(ModelName)
		.min(1)
		.max(100)
		.transform((ids) => [...new Set(ids)])
		.nullable()
		.optional(),
});

const KeyId = z.string().regex(/^key_[0-9a-f]{32}$/);

export function registerAccountRoutes(app: App): void {
	// ── Sign-in ─────────────────────────────────────────────────────────────

	app.get("/v1/auth/nonce", async (c) => {
		const { nonce, expiresAt } = await newSignInNonce(c.get("db"));
		c.header("cache-control", "no-store");
		return c.json({ nonce, expires_at: toSeconds(expiresAt) });
	});

	app.post("/v1/auth/verify", async (c) => {
		const { value } = await readJsonBody(c, VerifyBody, readConfig(c.env).maxBodyBytes);
		const session = await signIn(c.env, c.get("db"), value, new URL(c.req.url).host);
		c.header("cache-control", "no-store");
		return c.json({ token: session.token, payer: session.payer, expires_at: toSeconds(session.expiresAt) });
	});

	// ── The signed-in payer's account ───────────────────────────────────────

	app.get("/v1/account", async (c) => {
		const { payer } = await requireSession(c.env, c.req.header("authorization"));
		const account = await ledgerFor(c.env, payer).account();
		return c.json({
			object: "account",
			payer,
			balance: account.balance.toString(),
			held: account.held.toString(),
			available: account.available.toString(),
			total_credited: account.totalCredited.toString(),
			total_spent: account.totalSpent.toString(),
		});
	});

	app.post("/v1/account/keys", async (c) => {
		const { payer } = await requireSession(c.env, c.req.header("authorization"));
		// An empty body is an empty object: `curl -X POST` creates a plain key.
		const empty = c.req.raw.body === null || c.req.header("content-length") === "0";
		const body: z.infer<typeof CreateKeyBody> = empty
			? {}
			: (await readJsonBody(c, CreateKeyBody, readConfig(c.env).maxBodyBytes)).value;
		const issued = await issueApiKey(c.env, c.get("db"), payer, {
			name: body.name ?? "",
			spendCap: body.spend_cap ?? null,
			allowedModels: body.allowed_models ?? null,
		});
		const listed = (await ledgerFor(c.env, payer).listKeys()).find((k) => k.keyId === issued.keyId);
		if (!listed) throw new Error(`key ${issued.keyId} missing from its ledger right after it was added`);
		c.header("cache-control", "no-store");
		// The only response that ever holds the plaintext key.
		return c.json({ ...keyView(listed), key: issued.key }, 201);
	});

	app.get("/v1/account/keys", async (c) => {
		const { payer } = await requireSession(c.env, c.req.header("authorization"));
		const keys = await ledgerFor(c.env, payer).listKeys();
		return c.json({ object: "list", data: keys.map(keyView) });
	});

	app.delete("/v1/account/keys/:id", async (c) => {
		const { payer } = await requireSession(c.env, c.req.header("authorization"));
		const id = c.req.param("id");
		// Another payer's key is simply not in this payer's ledger: the same 404 as a key that never existed.
		const revoked = KeyId.safeParse(id).success ? await revokeApiKey(c.env, c.get("db"), payer, id) : null;
		if (!revoked) throw new ApiError("not_found", `You have no API key '${id}'.`, { param: "id" });
		return c.json(keyView(revoked));
	});
}

function keyView(key: KeyInfo) {
	return {
		id: key.keyId,
		object: "api_key" as const,
		name: key.name,
		prefix: key.prefix,
		spend_cap: key.spendCap === null ? null : key.spendCap.toString(),
		spent: key.spent.toString(),
		allowed_models: key.allowedModels,
		created_at: toSeconds(key.createdAt),
		revoked_at: key.revokedAt === null ? null : toSeconds(key.revokedAt),
	};
}

function toSeconds(ms: number): number {
	return Math.floor(ms / 1000);
}
