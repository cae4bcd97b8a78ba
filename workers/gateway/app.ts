import { OpenAPIHono } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import { leaseRequestId } from "../../durable-objects/lease-protocol.ts";
import { type Db, openDb } from "../../lib/db/client.ts";
import { randomHex } from "../../lib/keys.ts";
import { addCorsHeaders, allowsCrossOrigin, preflight } from "./cors.ts";
import type { Env } from "./env.ts";
import { ApiError, validationError } from "./errors.ts";

export interface Caller {
	keyId: string;
	payer: string;
}

export type AppEnv = {
	Bindings: Env;
	Variables: { requestId: string; db: Db; caller: Caller };
};

export type App = OpenAPIHono<AppEnv>;

// One Drizzle instance per D1 binding per isolate, not one per request (it costs ~25 µs to build).
const dbs = new WeakMap<D1Database, Db>();
function dbFor(d1: D1Database): Db {
	let db = dbs.get(d1);
	if (!db) {
		db = openDb(d1);
		dbs.set(d1, db);
	}
	return db;
}

// Request ids for responses without a lease's request id (errors before admission,
// other routes): this isolate's random prefix and a counter, built like a lease's request
// ids (`req_` + 32 hex). Random values may not be drawn at global scope in Workers.
let isolatePrefix = "";
let requestCount = 0;
function newRequestId(): string {
	if (!isolatePrefix) isolatePrefix = randomHex(8);
	requestCount += 1;
	return leaseRequestId(isolatePrefix, requestCount);
}

/** The one place the app's error handling, validation hook and per-request variables are set. */
export function newApp(): App {
	const app = new OpenAPIHono<AppEnv>({
		defaultHook: (result) => {
			if (!result.success) throw validationError(result.error.issues);
		},
	});

	app.use("*", async (c, next) => {
		const requestId = newRequestId();
		c.set("requestId", requestId);
		const crossOrigin = allowsCrossOrigin(c.req.path);
		// A browser's preflight: answered here, before any route, key check or rate limit.
		if (crossOrigin && c.req.method === "OPTIONS") return preflight(c.req.raw, requestId);
		c.set("db", dbFor(c.env.DB));
		await next();
		// A replayed response keeps the id of the request that produced it.
		if (!c.res.headers.has("x-request-id")) c.header("x-request-id", requestId);
		// Responses of every kind (answers, streams, replays, errors, 404s) pass here. A WebSocket
		// handshake (101, /v1/models/{id}/live) is outside CORS: browsers do not check it.
		if (crossOrigin && c.res.status !== 101) addCorsHeaders(c.res.headers);
	});

	app.onError((err, c) => {
		const apiError = toApiError(err);
		if (apiError.code === "internal_error") console.error("unhandled error", c.get("requestId"), err);
		const response = apiError.toResponse();
		response.headers.set("x-request-id", c.get("requestId") ?? "");
		// An error thrown by the middleware above itself does not pass back through it.
		if (allowsCrossOrigin(c.req.path)) addCorsHeaders(response.headers);
		return response;
	});

	app.notFound((c) => new ApiError("not_found", `Unknown path: ${c.req.method} ${c.req.path}`).toResponse());

	return app;
}

function toApiError(err: unknown): ApiError {
	if (err instanceof ApiError) return err;
	if (err instanceof HTTPException) {
		// Hono's own validators throw these; the JSON one is the only one we route through them.
		if (err.status === 400) return new ApiError("invalid_json", `Could not parse the request body as JSON: ${err.message}`);
		if (err.status === 413) return new ApiError("request_too_large", err.message);
	}
	return new ApiError("internal_error", "The server had an error while processing your request.");
}
