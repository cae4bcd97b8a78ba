// The one D1 schema. drizzle-kit generates migrations/ from this file; every
// Worker reads and writes through these tables.
//
// Money columns hold PACA base units (18 decimals) as decimal TEXT: SQLite's
// INTEGER is 64-bit and 2^63 base units is only ~9.2 PACA, and REAL would
// round. Sums over money happen in TypeScript with bigint, never in SQL.
import { sql } from "drizzle-orm";
import { customType, index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const baseUnits = customType<{ data: bigint; driverData: string }>({
	dataType: () => "text",
	toDriver: (value) => value.toString(),
	fromDriver: (value) => BigInt(value),
});

const createdAt = () => integer("created_at", { mode: "number" }).notNull().default(sql`(unixepoch('subsec') * 1000)`);

/** An API key. Only the SHA-256 of the key is stored; `prefix` is the part shown in listings. */
export const apiKeys = sqliteTable(
	"api_keys",
	{
		id: text("id").primaryKey(),
		keyHash: text("key_hash").notNull().unique(),
		prefix: text("prefix").notNull(),
		payer: text("payer").notNull(),
		name: text("name").notNull().default(""),
		createdAt: createdAt(),
		revokedAt: integer("revoked_at", { mode: "number" }),
	},
	(t) => [index("api_keys_payer").on(t.payer)],
);

/** A tokenized model callable through the API. `id` is the name clients pass as `model`. */
export const models = sqliteTable("models", {
	id: text("id").primaryKey(),
	displayName: text("display_name").notNull(),
	hfRepo: text("hf_repo"),
	hfRevision: text("hf_revision"),
	tokenAddress: text("token_address"),
	inputPricePerM: baseUnits("input_price_per_m").notNull(),
	outputPricePerM: baseUnits("output_price_per_m").notNull(),
	/** Completion tokens a request may produce when it names no max_tokens; also the hold's bound. */
	maxOutputTokens: integer("max_output_tokens").notNull().default(4096),
	enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
	// The model's market, kept by the indexer from chain events.
	imoStatus: text("imo_status", { enum: ["none", "funding", "graduated"] })
		.notNull()
		.default("none"),
	saleAddress: text("sale_address"),
	poolAddress: text("pool_address"),
	imoRaised: baseUnits("imo_raised"),
	imoThreshold: baseUnits("imo_threshold"),
	createdAt: createdAt(),
});

/** Where a model's requests go, tried in `position` order. */
export const modelUpstreams = sqliteTable(
	"model_upstreams",
	{
		modelId: text("model_id")
			.notNull()
			.references(() => models.id),
		position: integer("position").notNull(),
		kind: text("kind", { enum: ["openai", "workers-ai"] }).notNull(),
		/** Base URL of an OpenAI-compatible API (ending before `/chat/completions`). */
		baseUrl: text("base_url"),
		/** The model name the upstream expects; defaults to the Modeldex model id. */
		upstreamModel: text("upstream_model"),
		/** Name of the Worker secret holding the upstream's API key, never the key itself. */
		apiKeySecret: text("api_key_secret"),
	},
	(t) => [primaryKey({ columns: [t.modelId, t.position] })],
);

/** One row per metered request; `request_id` makes a repeated flush a no-op. */
export const usage = sqliteTable(
	"usage",
	{
		requestId: text("request_id").primaryKey(),
		keyId: text("key_id").notNull(),
		payer: text("payer").notNull(),
		modelId: text("model_id").notNull(),
		promptTokens: integer("prompt_tokens").notNull(),
		completionTokens: integer("completion_tokens").notNull(),
		fee: baseUnits("fee").notNull(),
		status: text("status", { enum: ["ok", "error"] }).notNull(),
		/** Where the token counts came from: the upstream's `usage`, or our tokenizer when it sent none. */
		usageSource: text("usage_source", { enum: ["upstream", "counted", "none"] }).notNull(),
		createdAt: integer("created_at", { mode: "number" }).notNull(),
	},
	(t) => [index("usage_model_time").on(t.modelId, t.createdAt), index("usage_payer_time").on(t.payer, t.createdAt)],
);

/** Per model, payer and hour: what the usage chart and the settler's cross-checks read. */
export const usageHourly = sqliteTable(
	"usage_hourly",
	{
		modelId: text("model_id").notNull(),
		payer: text("payer").notNull(),
		/** Start of the hour, unix milliseconds. */
		hour: integer("hour").notNull(),
		requests: integer("requests").notNull(),
		errors: integer("errors").notNull(),
		promptTokens: integer("prompt_tokens").notNull(),
		completionTokens: integer("completion_tokens").notNull(),
		fees: baseUnits("fees").notNull(),
	},
	(t) => [primaryKey({ columns: [t.modelId, t.payer, t.hour] }), index("usage_hourly_model_hour").on(t.modelId, t.hour)],
);

/**
 * One-time nonces for Sign-In with Ethereum. A sign-in deletes its nonce in the
 * same statement that checks it, so a replayed message finds nothing.
 */
export const siweNonces = sqliteTable(
	"siwe_nonces",
	{
		nonce: text("nonce").primaryKey(),
		/** Unix milliseconds after which the nonce is refused (and may be swept). */
		expiresAt: integer("expires_at", { mode: "number" }).notNull(),
		createdAt: createdAt(),
	},
	(t) => [index("siwe_nonces_expires").on(t.expiresAt)],
);
