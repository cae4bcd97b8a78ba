// Where the gateway's own CPU goes, piece by piece: micro-benchmarks of the steps of
// the request path, run in Node (same V8 as workerd; workerd's timers are too coarse
// to time code inside an isolate). Bindings are in-process stubs and the upstream is
// a canned response, so this is the gateway's code alone (like `gateway-bare`).
//
//   node bench/path-costs.ts   (bundles this file with esbuild, then runs it: the gateway
//                              source uses TypeScript that Node cannot strip)

import { openDb } from "../lib/db/client.ts";
import type { ModelRecord } from "../lib/db/models.ts";
import { hashApiKey, newApiKey, parseApiKey } from "../lib/keys.ts";
import { newApp } from "../workers/gateway/app.ts";
import { readConfig } from "../workers/gateway/env.ts";
import { bearerKey, planRequest } from "../workers/gateway/inference.ts";
import { getModel } from "../workers/gateway/model-cache.ts";
import { registerInferenceRoutes } from "../workers/gateway/routes/inference.ts";
import { ChatCompletionRequest, Usage } from "../workers/gateway/schemas/inference.ts";
import { ledgerStub, meterStub } from "./stubs.ts";

const payer = `0x${"ab".repeat(20)}`;
const key = newApiKey(payer);
const modelId = "bench/model-0";
const body = JSON.stringify({
	model: modelId,
	messages: [
		{ role: "user", content: "Benchmark prompt: summarise the overhead of a metered gateway in one short sentence please." },
	],
	max_tokens: 16,
});
const upstreamText = JSON.stringify({
	id: "chatcmpl-standin",
	object: "chat.completion",
	created: 1,
	model: "stand-in",
	choices: [{ index: 0, message: { role: "assistant", content: "This reply comes from the stand-in." }, finish_reason: "stop" }],
	usage: { prompt_tokens: 14, completion_tokens: 13, total_tokens: 27 },
});
const model: ModelRecord = {
	id: modelId,
	displayName: modelId,
	hfRepo: null,
	hfRevision: null,
	tokenAddress: null,
	inputPricePerM: 2_000_000_000_000_000n,
	outputPricePerM: 6_000_000_000_000_000n,
	maxOutputTokens: 4096,
	enabled: true,
	createdAt: 0,
	upstreams: [
		{
			modelId,
			position: 0,
			kind: "openai",
			baseUrl: "http://upstream.invalid/v1",
			upstreamModel: "stand-in",
			apiKeySecret: null,
		},
	],
} as unknown as ModelRecord;

// A Db whose query chain ends in the model row, to fill the gateway's model cache.
const fakeQuery: Record<string, unknown> = new Proxy(
	{},
	{
		get: (_t, prop) =>
			prop === "all"
				? async () => [{ models: model, model_upstreams: model.upstreams[0] }]
				: prop === "then"
					? undefined
					: () => fakeQuery,
	},
);
const noDefer = { waitUntil: () => {} };
const primeModelCache = () => getModel(fakeQuery as never, modelId, noDefer);

const env = {
	DB: {} as D1Database,
	MAX_BODY_BYTES: "1048576",
	KEY_REQUESTS_PER_MINUTE: "1000000000",
	KEY_TOKENS_PER_MINUTE: "1000000000",
	ACCOUNT_LEDGER: { getByName: () => ledgerStub },
	MODEL_METER: { getByName: () => meterStub },
};
const ctx = { waitUntil: (p: Promise<unknown>) => void p.catch(() => {}), passThroughOnException: () => {}, props: {} };
globalThis.fetch = async () => new Response(upstreamText, { status: 200, headers: { "content-type": "application/json" } });

const app = newApp();
registerInferenceRoutes(app);

async function time(name: string, n: number, fn: () => unknown): Promise<number> {
	for (let i = 0; i < Math.min(2000, n); i++) await fn();
	const t0 = performance.now();
	for (let i = 0; i < n; i++) {
		if (i % 2000 === 0) await primeModelCache();
		await fn();
	}
	const us = ((performance.now() - t0) / n) * 1000;
	console.log(`  ${name.padEnd(62)} ${us.toFixed(1).padStart(7)} µs`);
	return us;
}

await primeModelCache();
const parsedBody = JSON.parse(body) as Record<string, unknown>;
const chat = ChatCompletionRequest.parse(parsedBody);
console.log("gateway request path, per request (Node, stubbed bindings):");
await time("whole handler: app.fetch(POST /v1/chat/completions)", 20_000, async () => {
	const res = await app.fetch(
		new Request("http://gw/v1/chat/completions", {
			method: "POST",
			headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
			body,
		}),
		env as never,
		ctx as never,
	);
	if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
	await res.text();
});
await time("framework alone: app.fetch(unknown path → 404)", 20_000, async () => {
	await (await app.fetch(new Request("http://gw/nope"), env as never, ctx as never)).text();
});
console.log("pieces:");
await time("readConfig(env) (zod parse of vars, every request)", 50_000, () => readConfig(env as never));
await time("openDb(D1) (drizzle instance; built once per isolate)", 50_000, () => openDb(env.DB));
await time("bearerKey(header) (regex + parse)", 50_000, () => bearerKey(`Bearer ${key}`));
await time("JSON.parse(body) + ChatCompletionRequest.safeParse", 50_000, () => ChatCompletionRequest.safeParse(JSON.parse(body)));
await time("planRequest (bounds + maxCost bigint)", 50_000, () => planRequest("chat", chat, model, body.length));
await time("hashApiKey(key) (WebCrypto SHA-256 + hex)", 50_000, () => hashApiKey(key));
await time("getModel (isolate cache hit)", 50_000, () => getModel(fakeQuery as never, modelId, noDefer));
await time("response: JSON.parse(upstream) + Usage.safeParse", 50_000, () => Usage.safeParse(JSON.parse(upstreamText).usage));
await time("new Response(text) + read (the reply)", 50_000, async () => new Response(upstreamText).text());
await time("parseApiKey", 50_000, () => parseApiKey(key));
