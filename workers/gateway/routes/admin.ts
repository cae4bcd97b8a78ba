import { z } from "@hono/zod-openapi";
import { asc, eq } from "drizzle-orm";
import type { Context } from "hono";
import type { Db } from "../../../lib/db/client.ts";
import { type NewModel, upsertModel } from "../../../lib/db/models.ts";
import { models, modelUpstreams } from "../../../lib/db/schema.ts";
import { bearerToken } from "../../../lib/keys.ts";
import { ledgerFor } from "../accounts.ts";
import type { App, AppEnv } from "../app.ts";
import { IDEMPOTENCY_KEY, readJsonBody } from "../body.ts";
import { readConfig } from "../env.ts";
import { ApiError } from "../errors.ts";
import { forgetModel } from "../model-cache.ts";
import { ErrorBody } from "../schemas/public.ts";
import { MAX_UPSTREAMS } from "../upstreams/index.ts";
import { BaseUnits } from "./account.ts";

// The operator's API, behind `Authorization: Bearer <ADMIN_TOKEN>`: register and
// route models, switch them off and on, and credit accounts until the indexer
// credits deposits from the chain.
//
// A model change is visible at once in this isolate (forgetModel) and within the
// model cache's TTL (a few seconds) in every other one.

const MIN_ADMIN_TOKEN_LENGTH = 16;

/** Hugging Face style ids ("org/name-7B"), which may contain slashes; never ending in an action's name. */
const ModelId = z
	.string()
	.max(128)
	.regex(/^[A-Za-z0-9][A-Za-z0-9._:@+-]*(\/[A-Za-z0-9._:@+-]+)*$/, "must be a model id such as 'org/name-7b'")
	.refine((id) => !/\/(disable|enable)$/.test(id), "must not end in '/disable' or '/enable'");

const Address = z
	.string()
	.regex(/^0x[0-9a-fA-F]{40}$/, "must be a 0x-prefixed 20-byte hex address")
	.transform((a) => a.toLowerCase());

const Upstream = z.discriminatedUnion("kind", [
	z.strictObject({
		kind: z.literal("openai"),
		/** Base URL of an OpenAI-compatible API, ending before `/chat/completions`. */
		base_url: z.url({ protocol: /^https?$/ }).max(2048),
		upstream_model: z.string().min(1).max(200).optional(),
		/** Name of the Worker secret holding the upstream's key; the key itself never passes through here. */
		api_key_secret: z
			.string()
			.regex(/^UPSTREAM_KEY_[A-Z0-9_]+$/, "must name a Worker secret 'UPSTREAM_KEY_...'")
			.max(100)
			.optional(),
	}),
	z.strictObject({
		kind: z.literal("workers-ai"),
		/** The Workers AI model, e.g. "@cf/meta/llama-3.1-8b-instruct". */
		upstream_model: z.string().min(1).max(200),
	}),
]);

// PUT replaces the model's description: a field left out goes back to its default, except
// the model's link to its chain record (hf_repo, hf_revision, token_address), which the indexer
// sets from the chain. Left out, those keep their value (null clears one): a PUT that only
// reroutes a tokenized model used to unlink its token, and the settler then left its fees out.
const ModelBody = z.strictObject({
	display_name: z.string().min(1).max(200),
	input_price_per_m: BaseUnits,
	output_price_per_m: BaseUnits,
	max_output_tokens: z.number().int().min(1).max(1_048_576).default(4096),
	hf_repo: z.string().min(1).max(200).nullable().optional(),
	hf_revision: z.string().min(1).max(100).nullable().optional(),
	token_address: Address.nullable().optional(),
	/** In the order they are tried. */
	upstreams: z.array(Upstream).min(1).max(MAX_UPSTREAMS),
});

const CreditBody = z.strictObject({
	payer: Address,
	amount: BaseUnits.refine((amount) => amount > 0n, "must be greater than 0"),
	/** Applies the credit once: the same key and amount again is answered with applied: false (another amount: 409). Scoped to the payer. */
	idempotency_key: z.string().regex(IDEMPOTENCY_KEY, "must be 1-255 printable ASCII characters"),
});

export function registerAdminRoutes(app: App): void {
	documentAdminRoutes(app);

	app.use("/v1/admin/*", async (c, next) => {
		await requireAdmin(c);
		await next();
	});

	app.get("/v1/admin/models/:id{.+}", async (c) => {
		const id = modelIdParam(c.req.param("id"));
		return c.json(await modelView(c.get("db"), id));
	});

	app.put("/v1/admin/models/:id{.+}", async (c) => {
		const id = modelIdParam(c.req.param("id"));
		const { value: body } = await readJsonBody(c, ModelBody, readConfig(c.env).maxBodyBytes);
		const db = c.get("db");
		const kept =
			body.hf_repo === undefined || body.hf_revision === undefined || body.token_address === undefined
				? await db
						.select({ hfRepo: models.hfRepo, hfRevision: models.hfRevision, tokenAddress: models.tokenAddress })
						.from(models)
						.where(eq(models.id, id))
						.get()
				: undefined;
		// NewModel types hf_repo and the other optional text columns without null, but a PUT
		// sets them (null clears one); upsertModel writes every column of the row it gets, so
		// the full row goes through.
		const row: typeof models.$inferInsert & Pick<NewModel, "upstreams"> = {
			id,
			displayName: body.display_name,
			inputPricePerM: body.input_price_per_m,
			outputPricePerM: body.output_price_per_m,
			maxOutputTokens: body.max_output_tokens,
			hfRepo: body.hf_repo === undefined ? (kept?.hfRepo ?? null) : body.hf_repo,
			hfRevision: body.hf_revision === undefined ? (kept?.hfRevision ?? null) : body.hf_revision,
			tokenAddress: body.token_address === undefined ? (kept?.tokenAddress ?? null) : body.token_address,
			upstreams: body.upstreams.map((u) =>
				u.kind === "openai"
					? { kind: u.kind, baseUrl: u.base_url, upstreamModel: u.upstream_model ?? null, apiKeySecret: u.api_key_secret ?? null }
					: { kind: u.kind, baseUrl: null, upstreamModel: u.upstream_model, apiKeySecret: null },
			),
		};
		await upsertModel(db, row as NewModel);
		forgetModel(id);
		return c.json(await modelView(db, id));
	});

	app.post("/v1/admin/models/:id{.+}/disable", (c) => setEnabled(c, false));
	app.post("/v1/admin/models/:id{.+}/enable", (c) => setEnabled(c, true));

	app.post("/v1/admin/credits", async (c) => {
		const { value: body } = await readJsonBody(c, CreditBody, readConfig(c.env).maxBodyBytes);
		const result = await ledgerFor(c.env, body.payer).credit(`admin:${body.idempotency_key}`, body.amount, "admin");
		// The key already credited another amount: nothing was credited now, and a 200 echoing this
		// request's amount would read as if that amount had been credited before.
		if (!result.applied && result.amount !== body.amount) {
			throw new ApiError(
				"idempotency_conflict",
				`This idempotency_key already credited ${result.amount} base units to ${body.payer}, not ${body.amount}; nothing was credited. Use a new key for a new credit.`,
				{ param: "idempotency_key", final: true },
			);
		}
		return c.json(
			{
				object: "credit",
				payer: body.payer,
				amount: body.amount.toString(),
				idempotency_key: body.idempotency_key,
				applied: result.applied,
				balance: result.balance.toString(),
			},
			result.applied ? 201 : 200,
		);
	});
}

// ── Auth ─────────────────────────────────────────────────────────────────────

async function requireAdmin(c: Context<AppEnv>): Promise<void> {
	const expected = c.env.ADMIN_TOKEN;
	if (!expected || expected.length < MIN_ADMIN_TOKEN_LENGTH) {
		console.error(
			`ADMIN_TOKEN is missing or shorter than ${MIN_ADMIN_TOKEN_LENGTH} characters; the admin API refuses every call`,
		);
		throw new ApiError("unauthorized", "The admin API is not available.");
	}
	const token = bearerToken(c.req.header("authorization"));
	if (!token || !(await sameSecret(token, expected))) {
		throw new ApiError("unauthorized", "Missing or invalid admin token. Send 'Authorization: Bearer <ADMIN_TOKEN>'.");
	}
}

/** Constant-time comparison; hashing first gives both sides the same length, so the length leaks nothing either. */
async function sameSecret(given: string, expected: string): Promise<boolean> {
	const encoder = new TextEncoder();
	const [a, b] = await Promise.all([
		crypto.subtle.digest("SHA-256", encoder.encode(given)),
		crypto.subtle.digest("SHA-256", encoder.encode(expected)),
	]);
	return crypto.subtle.timingSafeEqual(a, b);
}

// ── Models ───────────────────────────────────────────────────────────────────

function modelIdParam(raw: string): string {
	const parsed = ModelId.safeParse(raw);
	if (!parsed.success) {
		throw new ApiError("invalid_request", `Invalid model id '${raw}': ${parsed.error.issues[0]?.message ?? "invalid"}.`, {
			param: "id",
		});
	}
	return parsed.data;
}

async function setEnabled(c: Context<AppEnv>, enabled: boolean) {
	const id = modelIdParam(c.req.param("id") ?? "");
	const db = c.get("db");
	const changed = await db.update(models).set({ enabled }).where(eq(models.id, id)).returning({ id: models.id });
	if (changed.length === 0) throw modelNotFound(id);
	forgetModel(id);
	return c.json(await modelView(db, id));
}

async function modelView(db: Db, id: string) {
	const [rows, upstreams] = await db.batch([
		db.select().from(models).where(eq(models.id, id)),
		db.select().from(modelUpstreams).where(eq(modelUpstreams.modelId, id)).orderBy(asc(modelUpstreams.position)),
	]);
	const model = rows[0];
	if (!model) throw modelNotFound(id);
	return {
		id: model.id,
		object: "model" as const,
		display_name: model.displayName,
		enabled: model.enabled,
		input_price_per_m: model.inputPricePerM.toString(),
		output_price_per_m: model.outputPricePerM.toString(),
		max_output_tokens: model.maxOutputTokens,
		hf_repo: model.hfRepo,
		hf_revision: model.hfRevision,
		token_address: model.tokenAddress,
		upstreams: upstreams.map((u) => ({
			kind: u.kind,
			base_url: u.baseUrl,
			upstream_model: u.upstreamModel,
			api_key_secret: u.apiKeySecret,
		})),
		created_at: Math.floor(model.createdAt / 1000),
	};
}

function modelNotFound(id: string): ApiError {
	return new ApiError("model_not_found", `The model '${id}' does not exist.`, { param: "id" });
}

// ── OpenAPI ──────────────────────────────────────────────────────────────────

const Amount = z.string().openapi({ description: "PACA base units (18 decimals) as a decimal string" });

const AdminModel = z
	.object({
		id: z.string(),
		object: z.literal("model"),
		display_name: z.string(),
		enabled: z.boolean(),
		input_price_per_m: Amount,
		output_price_per_m: Amount,
		max_output_tokens: z.number().int(),
		hf_repo: z.string().nullable(),
		hf_revision: z.string().nullable(),
		token_address: z.string().nullable(),
		upstreams: z.array(
			z.object({
				kind: z.enum(["openai", "workers-ai"]),
				base_url: z.string().nullable(),
				upstream_model: z.string().nullable(),
				api_key_secret: z.string().nullable(),
			}),
		),
		created_at: z.number().int(),
	})
	.openapi("AdminModel");

function documentAdminRoutes(app: App): void {
	app.openAPIRegistry.registerComponent("securitySchemes", "admin", {
		type: "http",
		scheme: "bearer",
		description: "The operator's ADMIN_TOKEN.",
	});
	const json = <T extends z.ZodType>(schema: T, description: string) => ({
		description,
		content: { "application/json": { schema } },
	});
	const error = (description: string) => json(ErrorBody, description);
	const security = [{ admin: [] }];
	const params = z.object({ id: z.string().openapi({ example: "org/name-7b" }) });
	const common = { 401: error("Missing or wrong admin token") };
	const model = json(AdminModel, "The model as stored");

	app.openAPIRegistry.registerPath({
		method: "put",
		path: "/v1/admin/models/{id}",
		summary:
			"Register or replace a model and its ordered upstreams (does not change whether it is enabled; token_address, hf_repo and hf_revision left out keep their value, null clears one)",
		security,
		request: { params, body: { content: { "application/json": { schema: ModelBody } } } },
		responses: { 200: model, 400: error("Invalid id or body"), 413: error("Body over the size limit"), ...common },
	});
	app.openAPIRegistry.registerPath({
		method: "get",
		path: "/v1/admin/models/{id}",
		summary: "A model as stored, enabled or not",
		security,
		request: { params },
		responses: { 200: model, 404: error("No such model"), ...common },
	});
	for (const action of ["disable", "enable"] as const) {
		app.openAPIRegistry.registerPath({
			method: "post",
			path: `/v1/admin/models/{id}/${action}`,
			summary: action === "disable" ? "Stop serving a model (callers get 404 model_not_found)" : "Serve a model again",
			security,
			request: { params },
			responses: { 200: model, 404: error("No such model"), ...common },
		});
	}
	app.openAPIRegistry.registerPath({
		method: "post",
		path: "/v1/admin/credits",
		summary:
			"Credit a payer's account, once per idempotency key (spendable through the API; not withdrawable, since no PACA backs it in the vault)",
		security,
		request: { body: { content: { "application/json": { schema: CreditBody } } } },
		responses: {
			201: json(
				z.object({
					object: z.literal("credit"),
					payer: z.string(),
					amount: Amount,
					idempotency_key: z.string(),
					applied: z.literal(true),
					balance: Amount,
				}),
				"Credited",
			),
			200: json(
				z.object({
					object: z.literal("credit"),
					payer: z.string(),
					amount: Amount,
					idempotency_key: z.string(),
					applied: z.literal(false),
					balance: Amount,
				}),
				"Already applied under this idempotency key; nothing changed",
			),
			400: error("Invalid body"),
			409: error("The idempotency key already credited this payer another amount; nothing changed"),
			413: error("Body over the size limit"),
			...common,
		},
	});
}
