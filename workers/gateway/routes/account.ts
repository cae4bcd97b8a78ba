import { z } from "@hono/zod-openapi";
import type { KeyInfo } from "../../../durable-objects/account-ledger.ts";
import { issueApiKey, ledgerFor, revokeApiKey } from "../accounts.ts";
import type { App } from "../app.ts";
import { readJsonBody } from "../body.ts";
import { readConfig } from "../env.ts";
import { ApiError } from "../errors.ts";
import { ErrorBody } from "../schemas/public.ts";
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

/** Unrevoked keys a payer may hold: every key lives in the ledger's memory, so a signed-in wallet cannot grow it without end. */
export const MAX_ACTIVE_KEYS = 100;

export function registerAccountRoutes(app: App): void {
	documentAccountRoutes(app);

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
			withdrawable: account.withdrawable.toString(),
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
		const ledger = ledgerFor(c.env, payer);
		// A soft limit: two creations at the same moment may both pass it, which is harmless.
		const active = (await ledger.listKeys()).filter((k) => k.revokedAt === null).length;
		if (active >= MAX_ACTIVE_KEYS) {
			throw new ApiError("invalid_request", `You have ${active} active API keys, the most allowed; revoke one first.`);
		}
		const issued = await issueApiKey(c.env, c.get("db"), payer, {
			name: body.name ?? "",
			spendCap: body.spend_cap ?? null,
			allowedModels: body.allowed_models ?? null,
		});
		c.header("cache-control", "no-store");
		// The only response that ever holds the plaintext key.
		return c.json({ ...keyView(issued.info), key: issued.key }, 201);
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

// ── OpenAPI ─────────────────────────────────────────────────────────────────

const Amount = z
	.string()
	.openapi({ description: "PACA base units (18 decimals) as a decimal string", example: "1000000000000000000" });

const KeyObject = z
	.object({
		id: z.string(),
		object: z.literal("api_key"),
		name: z.string(),
		prefix: z.string().openapi({ description: "Enough of the key to recognise it" }),
		spend_cap: Amount.nullable(),
		spent: Amount,
		allowed_models: z.array(z.string()).nullable(),
		created_at: z.number().int(),
		revoked_at: z.number().int().nullable(),
	})
	.openapi("ApiKey");

function documentAccountRoutes(app: App): void {
	app.openAPIRegistry.registerComponent("securitySchemes", "session", {
		type: "http",
		scheme: "bearer",
		description: "A session token (mdxs_...) from POST /v1/auth/verify; API keys are not accepted here.",
	});
	const json = <T extends z.ZodType>(schema: T, description: string) => ({
		description,
		content: { "application/json": { schema } },
	});
	const error = (description: string) => json(ErrorBody, description);
	const session = [{ session: [] }];
	const unauthorized = error("No, a bad or an expired session token (or an API key)");

	app.openAPIRegistry.registerPath({
		method: "get",
		path: "/v1/auth/nonce",
		summary: "A one-time nonce for a Sign-In with Ethereum message (valid 10 minutes)",
		responses: { 200: json(z.object({ nonce: z.string(), expires_at: z.number().int() }), "The nonce") },
	});
	app.openAPIRegistry.registerPath({
		method: "post",
		path: "/v1/auth/verify",
		summary:
			"Sign in: an EIP-4361 message for this host and the deployment's chain (GET /v1/chain) over a fresh nonce, and the wallet's signature of it",
		request: { body: { content: { "application/json": { schema: VerifyBody } } } },
		responses: {
			200: json(z.object({ token: z.string(), payer: z.string(), expires_at: z.number().int() }), "A session for the wallet"),
			400: error("Not a SIWE message, or a bad body"),
			401: error("Wrong domain or chain id (not CHAIN_ID), expired, bad signature, or a nonce unknown, expired or used"),
			500: error("The gateway's CHAIN_ID setting is malformed"),
		},
	});
	app.openAPIRegistry.registerPath({
		method: "get",
		path: "/v1/account",
		summary: "The signed-in payer's credit",
		security: session,
		responses: {
			200: json(
				z.object({
					object: z.literal("account"),
					payer: z.string(),
					balance: Amount,
					held: Amount.openapi({ description: "Held for requests in flight" }),
					available: Amount,
					withdrawable: Amount.openapi({
						description:
							"What of `available` can be withdrawn from the vault: credit from deposits. Credit an admin granted is spent first and cannot be withdrawn.",
					}),
					total_credited: Amount,
					total_spent: Amount,
				}),
				"Balances in base units",
			),
			401: unauthorized,
		},
	});
	app.openAPIRegistry.registerPath({
		method: "post",
		path: "/v1/account/keys",
		summary: "Create an API key; the response is the only place the key is ever shown",
		security: session,
		request: { body: { content: { "application/json": { schema: CreateKeyBody } } } },
		responses: {
			201: json(KeyObject.extend({ key: z.string() }), "The new key, with its plaintext"),
			400: error("Invalid body"),
			401: unauthorized,
			413: error("Body over the size limit"),
		},
	});
	app.openAPIRegistry.registerPath({
		method: "get",
		path: "/v1/account/keys",
		summary: "The payer's API keys, revoked ones included (never the keys themselves)",
		security: session,
		responses: { 200: json(z.object({ object: z.literal("list"), data: z.array(KeyObject) }), "The keys"), 401: unauthorized },
	});
	app.openAPIRegistry.registerPath({
		method: "delete",
		path: "/v1/account/keys/{id}",
		summary: "Revoke an API key; its next request gets 401",
		security: session,
		request: { params: z.object({ id: z.string() }) },
		responses: { 200: json(KeyObject, "The key, revoked"), 401: unauthorized, 404: error("The payer has no such key") },
	});
}
