import { createRoute, z } from "@hono/zod-openapi";
import { ledgerFor } from "../accounts.ts";
import type { App } from "../app.ts";
import { readConfig } from "../env.ts";
import { ApiError } from "../errors.ts";
import { bearerKey, keyHashOf } from "../inference.ts";
import { flushKey } from "../leases.ts";
import { ErrorBody, GenerationObject } from "../schemas/public.ts";

export function registerGenerationRoutes(app: App): void {
	app.openapi(
		createRoute({
			method: "get",
			path: "/v1/generations/{id}",
			summary: "Tokens and cost of one request, final as soon as its response has ended",
			request: { params: z.object({ id: z.string().regex(/^req_[0-9a-f]{32}$/, "must be a request id (x-request-id)") }) },
			security: [{ bearer: [] }],
			responses: {
				200: { description: "The request", content: { "application/json": { schema: GenerationObject } } },
				401: { description: "Bad key", content: { "application/json": { schema: ErrorBody } } },
				404: { description: "Unknown for this payer", content: { "application/json": { schema: ErrorBody } } },
			},
		}),
		async (c) => {
			const key = bearerKey(c.req.header("authorization"));
			const id = c.req.valid("param").id;
			const keyHash = await keyHashOf(key.key);
			// Requests this isolate finished go to the ledger now rather than with the next batch;
			// the ledger waits for those still running here or in other isolates.
			// If that fails, the ledger still waits for what it knows is running.
			await flushKey(c.env, c.executionCtx, readConfig(c.env), keyHash).catch((err) =>
				console.error("flushing the key's batch before a generation lookup failed", err),
			);
			const found = await ledgerFor(c.env, key.payer).generation(keyHash, id);
			if (found === "invalid_key") throw new ApiError("invalid_api_key", "Incorrect API key provided, or the key was revoked.");
			if (!found) throw new ApiError("not_found", `No request '${id}' for this account.`, { param: "id" });
			return c.json(
				{
					id: found.requestId,
					object: "generation" as const,
					model: found.modelId,
					key_id: found.keyId,
					prompt_tokens: found.promptTokens,
					completion_tokens: found.completionTokens,
					cost: found.cost.toString(),
					status: found.status,
					usage_source: found.usageSource,
					created_at: found.createdAt,
					finished_at: found.finishedAt,
				},
				200,
			);
		},
	);
}
