import { z } from "@hono/zod-openapi";
import { and, asc, eq, gte } from "drizzle-orm";
import type { Context } from "hono";
import type { Db } from "../../../lib/db/client.ts";
import { usageHourly } from "../../../lib/db/schema.ts";
import type { App, AppEnv } from "../app.ts";
import { ApiError } from "../errors.ts";
import { ErrorBody } from "../schemas/public.ts";

// GET /v1/models/{id}/usage?hours=24: a model's usage per hour, summed over payers,
// from the hourly rollups the ModelMeter keeps in D1 (`usage_hourly`). The dashboard
// draws its 24-hour chart from it. Every hour of the window is listed, oldest first,
// the current (unfinished) hour last; an hour without calls is all zeros.
//
// Registered before the catalogue's `/v1/models/*` wildcard (routes/models.ts),
// which would otherwise take the path as part of a model id.

const HOUR_MS = 3_600_000;
export const MAX_USAGE_HOURS = 24 * 7;

export interface HourUsage {
	/** Start of the hour, Unix milliseconds. */
	hour: number;
	requests: number;
	errors: number;
	promptTokens: number;
	completionTokens: number;
	fees: bigint;
}

/** The model's hourly usage from `fromHour` (an hour start, ms) on, summed over payers; hours without rows are absent. */
export async function hourlyUsage(db: Db, modelId: string, fromHour: number): Promise<HourUsage[]> {
	const rows = await db
		.select()
		.from(usageHourly)
		.where(and(eq(usageHourly.modelId, modelId), gte(usageHourly.hour, fromHour)))
		.orderBy(asc(usageHourly.hour))
		.all();
	const byHour = new Map<number, HourUsage>();
	for (const row of rows) {
		const sum = byHour.get(row.hour) ?? {
			hour: row.hour,
			requests: 0,
			errors: 0,
			promptTokens: 0,
			completionTokens: 0,
			fees: 0n,
		};
		sum.requests += row.requests;
		sum.errors += row.errors;
		sum.promptTokens += row.promptTokens;
		sum.completionTokens += row.completionTokens;
		// Money is summed here, in bigint: D1 holds it as decimal text (see lib/db/schema.ts).
		sum.fees += row.fees;
		byHour.set(row.hour, sum);
	}
	return [...byHour.values()];
}

const Hours = z.coerce
	.number()
	.int("must be a whole number of hours")
	.min(1)
	.max(MAX_USAGE_HOURS)
	.default(24)
	.openapi({ description: `How many hours back, the current one included (1 to ${MAX_USAGE_HOURS})`, example: 24 });

const HourPoint = z.object({
	hour: z.number().int().openapi({ description: "Start of the hour, Unix seconds" }),
	requests: z.number().int(),
	errors: z.number().int(),
	prompt_tokens: z.number().int(),
	completion_tokens: z.number().int(),
	fees: z.string().openapi({ description: "PACA base units (18 decimals) as a decimal string" }),
});

export const ModelUsage = z
	.object({ object: z.literal("usage"), model: z.string(), hours: z.number().int(), data: z.array(HourPoint) })
	.openapi("ModelUsage");

/**
 * GET /v1/models/{id}/usage for a model that exists (routes/models.ts finds it and splits the
 * view off the path, as for /stats and /live, so a model named like a view is found there too).
 */
export async function modelUsage(c: Context<AppEnv>, id: string): Promise<Response> {
	const parsed = Hours.safeParse(c.req.query("hours"));
	if (!parsed.success) {
		throw new ApiError("invalid_request", `Invalid 'hours': must be a whole number from 1 to ${MAX_USAGE_HOURS}.`, {
			param: "hours",
		});
	}
	const hours = parsed.data;
	const db = c.get("db");
	const currentHour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
	const fromHour = currentHour - (hours - 1) * HOUR_MS;
	const found = new Map((await hourlyUsage(db, id, fromHour)).map((h) => [h.hour, h]));
	const data = [];
	for (let hour = fromHour; hour <= currentHour; hour += HOUR_MS) {
		const h = found.get(hour);
		data.push({
			hour: hour / 1000,
			requests: h?.requests ?? 0,
			errors: h?.errors ?? 0,
			prompt_tokens: h?.promptTokens ?? 0,
			completion_tokens: h?.completionTokens ?? 0,
			fees: (h?.fees ?? 0n).toString(),
		});
	}
	// The current hour keeps growing, and the dashboard reloads it as the live counter moves.
	c.header("cache-control", "no-cache");
	return c.json({ object: "usage" as const, model: id, hours, data });
}

/** The route's OpenAPI description (routes/models.ts serves it). */
export function documentUsageChartRoute(app: App): void {
	app.openAPIRegistry.registerPath({
		method: "get",
		path: "/v1/models/{id}/usage",
		summary: "Usage per hour (all payers), from the hourly rollups: every hour of the window, oldest first",
		request: {
			params: z.object({ id: z.string().openapi({ example: "modeldex/demo-chat" }) }),
			query: z.object({ hours: Hours.optional() }),
		},
		responses: {
			200: { description: "Hourly usage", content: { "application/json": { schema: ModelUsage } } },
			400: { description: "Bad 'hours'", content: { "application/json": { schema: ErrorBody } } },
			404: { description: "No such model", content: { "application/json": { schema: ErrorBody } } },
		},
	});
}
