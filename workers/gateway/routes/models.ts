import { createRoute, z } from "@hono/zod-openapi";
import { MODEL_HEADER, publicStats } from "../../../durable-objects/model-meter.ts";
import { type CatalogModel, findEnabledModel, listEnabledModels } from "../../../lib/db/catalog.ts";
import type { App } from "../app.ts";
import { modelPath } from "../body.ts";
import { ApiError } from "../errors.ts";
import { ErrorBody, ModelList, ModelObject, ModelStats } from "../schemas/public.ts";
import { modelUsage } from "./usage-chart.ts";

export function registerModelRoutes(app: App): void {
	app.openapi(
		createRoute({
			method: "get",
			path: "/v1/models",
			summary: "Tokenized models with their prices and IMO status",
			responses: { 200: { description: "The catalogue", content: { "application/json": { schema: ModelList } } } },
		}),
		async (c) => {
			const rows = await listEnabledModels(c.get("db"));
			return c.json({ object: "list" as const, data: rows.map(toModelObject) }, 200);
		},
	);

	// Model ids contain a slash ("org/name"), so one route takes the rest of the path and
	// reads an optional /stats, /live or /usage suffix off its end (modelPath).
	app.get("/v1/models/*", async (c) => {
		const db = c.get("db");
		const path = c.req.path.slice("/v1/models/".length);
		const { id, view, found: row } = await modelPath(path, ["stats", "live", "usage"], (id) => findEnabledModel(db, id));
		if (!row) throw modelNotFound(id);
		const meter = () => c.env.MODEL_METER.getByName(id);
		if (view === "stats") return c.json({ ...publicStats(await meter().stats()), model: id });
		if (view === "usage") return modelUsage(c, id);
		if (view === "live") {
			if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
				throw new ApiError("invalid_request", "This endpoint is a WebSocket: connect with an Upgrade: websocket request.");
			}
			const upgrade = new Request(c.req.raw);
			upgrade.headers.set(MODEL_HEADER, id);
			return meter().fetch(upgrade);
		}
		return c.json(toModelObject(row));
	});

	const params = z.object({ id: z.string().openapi({ example: "modeldex/demo-chat" }) });
	const notFound = { description: "No such model", content: { "application/json": { schema: ErrorBody } } };
	app.openAPIRegistry.registerPath({
		method: "get",
		path: "/v1/models/{id}",
		summary: "One tokenized model",
		request: { params },
		responses: { 200: { description: "The model", content: { "application/json": { schema: ModelObject } } }, 404: notFound },
	});
	app.openAPIRegistry.registerPath({
		method: "get",
		path: "/v1/models/{id}/stats",
		summary: "Live counters of one model: all-time and the last minute",
		request: { params },
		responses: { 200: { description: "Counters", content: { "application/json": { schema: ModelStats } } }, 404: notFound },
	});
	app.openAPIRegistry.registerPath({
		method: "get",
		path: "/v1/models/{id}/live",
		summary: "WebSocket of the model's counters (ModelStats messages, at most 4 a second)",
		request: { params },
		responses: { 101: { description: "Switching to WebSocket" }, 404: notFound },
	});
}

function modelNotFound(id: string): ApiError {
	return new ApiError("model_not_found", `The model '${id}' does not exist.`, { param: "id" });
}

export function toModelObject(row: CatalogModel): z.infer<typeof ModelObject> {
	return {
		id: row.id,
		object: "model",
		created: Math.floor(row.createdAt / 1000),
		owned_by: "modeldex",
		name: row.displayName,
		pricing: {
			input_per_1m_tokens: row.inputPricePerM.toString(),
			output_per_1m_tokens: row.outputPricePerM.toString(),
			currency: "PACA",
		},
		max_output_tokens: row.maxOutputTokens,
		huggingface: row.hfRepo ? { repo: row.hfRepo, revision: row.hfRevision } : null,
		token: row.tokenAddress
			? {
					address: row.tokenAddress,
					imo_status: row.imoStatus,
					sale_address: row.saleAddress,
					pool_address: row.poolAddress,
					raised: row.imoRaised?.toString() ?? null,
					threshold: row.imoThreshold?.toString() ?? null,
				}
			: null,
	};
}
