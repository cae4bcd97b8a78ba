// Workers for bench/request-costs.ts: a non-stream exchange with the upstream, each MODE
// (esbuild define) adding one thing the gateway does on every request to the one before,
// so the CPU each costs in workerd can be told apart:
//   buffered  both bodies read and parsed in JavaScript (bench/passthrough-worker.ts's mode)
//   signal    + an AbortController whose signal goes with the upstream fetch
//   timer     + one setTimeout per request, left pending (the upstream deadline)
//   hono      + routed through an OpenAPIHono app with a middleware (the gateway's framework)
//   zod       + the body validated with the gateway's ChatCompletionRequest schema
//   waituntil + one ctx.waitUntil per request (a finished request's deferred work)

import { OpenAPIHono } from "@hono/zod-openapi";
import { ChatCompletionRequest } from "../workers/gateway/schemas/inference.ts";

declare const MODE: "buffered" | "signal" | "timer" | "hono" | "zod" | "waituntil";
const LEVEL = ["buffered", "signal", "timer", "hono", "zod", "waituntil"].indexOf(MODE);

interface CostEnv {
	UPSTREAM_URL: string;
}

async function exchange(request: Request, env: CostEnv, ctx: ExecutionContext): Promise<Response> {
	const text = await request.text();
	const body = JSON.parse(text) as unknown;
	if (LEVEL >= 4) {
		const parsed = ChatCompletionRequest.safeParse(body);
		if (!parsed.success) return new Response("bad body", { status: 400 });
	}
	const attempt = LEVEL >= 1 ? new AbortController() : null;
	if (LEVEL >= 2) setTimeout(() => attempt?.abort(), 30_000);
	const upstream = await fetch(`${env.UPSTREAM_URL}/chat/completions`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: text,
		...(attempt ? { signal: attempt.signal } : {}),
	});
	const answer = await upstream.text();
	JSON.parse(answer);
	if (LEVEL >= 5) ctx.waitUntil(Promise.resolve());
	return new Response(answer, { status: upstream.status, headers: { "content-type": "application/json" } });
}

const app = new OpenAPIHono<{ Bindings: CostEnv }>();
app.use("*", async (c, next) => {
	await next();
	c.header("x-request-id", "req_bench");
});
app.post("/v1/chat/completions", (c) => exchange(c.req.raw, c.env, c.executionCtx as ExecutionContext));

export default {
	fetch(request: Request, env: CostEnv, ctx: ExecutionContext): Promise<Response> | Response {
		return LEVEL >= 3 ? app.fetch(request, env, ctx) : exchange(request, env, ctx);
	},
};
