import { Scalar } from "@scalar/hono-api-reference";
import type { App } from "../app.ts";
import { ChatCompletionRequest, CompletionRequest, EmbeddingRequest } from "../schemas/inference.ts";
import { ErrorBody } from "../schemas/public.ts";

/** /openapi.json, generated from the zod schemas, and a reference page at /docs. */
export function registerDocsRoutes(app: App): void {
	const inference = [
		["/v1/chat/completions", ChatCompletionRequest, "Chat completion (OpenAI format; stream with SSE)"],
		["/v1/completions", CompletionRequest, "Text completion (OpenAI format; stream with SSE)"],
		["/v1/embeddings", EmbeddingRequest, "Embeddings (OpenAI format)"],
	] as const;
	for (const [path, schema, summary] of inference) {
		app.openAPIRegistry.registerPath({
			method: "post",
			path,
			summary,
			security: [{ bearer: [] }],
			request: { body: { content: { "application/json": { schema } } } },
			responses: {
				200: { description: "The upstream's OpenAI-format response; `x-request-id` names it for /v1/generations" },
				400: { description: "Invalid body", content: { "application/json": { schema: ErrorBody } } },
				401: { description: "Missing or bad API key", content: { "application/json": { schema: ErrorBody } } },
				402: { description: "Not enough credit", content: { "application/json": { schema: ErrorBody } } },
				404: { description: "Unknown model", content: { "application/json": { schema: ErrorBody } } },
				429: { description: "Rate limited; see Retry-After", content: { "application/json": { schema: ErrorBody } } },
			},
		});
	}
	app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
	app.doc31("/openapi.json", {
		openapi: "3.1.0",
		info: {
			title: "Modeldex API",
			version: "0.1.0",
			description:
				"OpenAI-compatible, metered inference for community-owned models. Amounts are PACA base units (18 decimals) as decimal strings.",
		},
	});
	app.get("/docs", Scalar({ url: "/openapi.json", pageTitle: "Modeldex API" }));
}
