import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { ledgerFor } from "../../workers/gateway/accounts.ts";
import worker from "../../workers/gateway/index.ts";
import { newKey, newModel, standIn, testEnv, upstreamRequestsWith } from "../helpers/fixtures.ts";
import { callGateway, openGateway, sseData, usageRowsForModel } from "../helpers/gateway.ts";

// Browser apps on other origins call the API: every /v1 response but the admin API's says
// so (Access-Control-Allow-Origin: *, never with credentials), exposes the headers clients
// read, and a preflight is answered before any key check, ledger, meter or upstream.

const ORIGIN = "https://app.example";
const EXPOSED = ["x-request-id", "idempotent-replayed", "retry-after", "x-should-retry"];
/** What the openai SDK in a browser asks a preflight for (plus the API's own Idempotency-Key). */
const SDK_HEADERS =
	"authorization,content-type,idempotency-key,openai-organization,openai-project,x-stainless-arch,x-stainless-lang,x-stainless-os,x-stainless-package-version,x-stainless-retry-count,x-stainless-runtime,x-stainless-runtime-version,x-stainless-timeout";

function expectCors(headers: Headers): void {
	expect(headers.get("access-control-allow-origin")).toBe("*");
	const exposed = (headers.get("access-control-expose-headers") ?? "").split(",").map((h) => h.trim().toLowerCase());
	expect(exposed).toEqual(expect.arrayContaining(EXPOSED));
	expect(headers.get("access-control-allow-credentials")).toBeNull();
}

function listOf(value: string | null): string[] {
	return (value ?? "").split(",").map((h) => h.trim().toLowerCase());
}

const chat = (model: string, content: string, extra: Record<string, unknown> = {}) => ({
	model,
	max_tokens: 4,
	messages: [{ role: "user" as const, content }],
	...extra,
});

describe("CORS preflight", () => {
	it("answers a preflight for /v1/chat/completions with the openai SDK's headers with 204, free, without touching the upstream", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const marker = crypto.randomUUID();
		// A key and a body a browser would never send with a preflight: neither is looked at.
		const res = await callGateway("/v1/chat/completions", {
			method: "OPTIONS",
			key,
			json: chat(model, marker),
			headers: { origin: ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": SDK_HEADERS },
		});
		expect(res.status).toBe(204);
		expect(res.text).toBe("");
		expect(res.headers.get("access-control-allow-origin")).toBe("*");
		expect(res.headers.get("access-control-allow-credentials")).toBeNull();
		expect(listOf(res.headers.get("access-control-allow-methods"))).toEqual(
			expect.arrayContaining(["get", "post", "delete", "options"]),
		);
		expect(listOf(res.headers.get("access-control-allow-headers"))).toEqual(expect.arrayContaining(listOf(SDK_HEADERS)));
		expect(res.headers.get("access-control-max-age")).toBe("86400");
		expect(await upstreamRequestsWith(marker)).toEqual([]);
		expect(await usageRowsForModel(model)).toEqual([]);
		const account = await ledgerFor(testEnv(), payer).account();
		expect(account.totalSpent).toBe(0n);
		expect(account.held).toBe(0n);
	});

	it("names Authorization, Content-Type and Idempotency-Key when the preflight names no headers", async () => {
		const res = await callGateway("/v1/embeddings", {
			method: "OPTIONS",
			headers: { origin: ORIGIN, "access-control-request-method": "POST" },
		});
		expect(res.status).toBe(204);
		expect(listOf(res.headers.get("access-control-allow-headers"))).toEqual(
			expect.arrayContaining(["authorization", "content-type", "idempotency-key", "openai-organization", "openai-project"]),
		);
	});

	it("answers a preflight for any /v1 path, account routes and unknown ones included", async () => {
		for (const path of ["/v1/account/keys/key_1", "/v1/models/org%2Fname", "/v1/no-such-path"]) {
			const res = await callGateway(path, {
				method: "OPTIONS",
				headers: { origin: ORIGIN, "access-control-request-method": "DELETE" },
			});
			expect(res.status, path).toBe(204);
			expect(res.headers.get("access-control-allow-origin"), path).toBe("*");
		}
	});

	it("never counts preflights toward the key's requests per minute (40 in tests)", async () => {
		const { key } = await newKey();
		const model = await newModel();
		for (let i = 0; i < 45; i++) {
			const res = await callGateway("/v1/chat/completions", { method: "OPTIONS", key, headers: { origin: ORIGIN } });
			expect(res.status).toBe(204);
		}
		expect((await callGateway("/v1/chat/completions", { key, json: chat(model, "after preflights") })).status).toBe(200);
	});

	it("lets every header the official openai client sends through the preflight, and its call then reads the answer", async () => {
		const { key } = await newKey();
		const model = await newModel();
		let sent: Request | undefined;
		let answer: Response | undefined;
		const fetch = async (input: string | URL | Request, init?: RequestInit) => {
			sent = new Request(input, init);
			const ctx = createExecutionContext();
			answer = await worker.fetch(sent.clone() as Request, testEnv(), ctx);
			await waitOnExecutionContext(ctx);
			return answer;
		};
		const openai = new OpenAI({
			apiKey: key,
			baseURL: "https://gateway.test/v1",
			fetch,
			maxRetries: 0,
			organization: "org-1",
			project: "proj-1",
		});
		await openai.chat.completions.create(chat(model, "from a browser"), { headers: { "Idempotency-Key": crypto.randomUUID() } });
		// The headers a browser would name in its preflight: all but the CORS-safelisted ones it sends freely.
		const names = [...(sent?.headers.keys() ?? [])].filter((h) => !["accept", "accept-language", "content-language"].includes(h));
		expect(names).toEqual(
			expect.arrayContaining(["authorization", "x-stainless-lang", "openai-organization", "idempotency-key"]),
		);
		const preflight = await callGateway("/v1/chat/completions", {
			method: "OPTIONS",
			headers: { origin: ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": names.join(",") },
		});
		expect(preflight.status).toBe(204);
		expect(listOf(preflight.headers.get("access-control-allow-headers"))).toEqual(expect.arrayContaining(names));
		expect(answer?.status).toBe(200);
		expectCors(answer?.headers ?? new Headers());
	});
});

describe("CORS headers on /v1 responses", () => {
	it("carries them on a non-stream 200, with its x-request-id exposed", async () => {
		const { key } = await newKey();
		const model = await newModel();
		const res = await callGateway("/v1/chat/completions", { key, json: chat(model, "plain"), headers: { origin: ORIGIN } });
		expect(res.status).toBe(200);
		expectCors(res.headers);
		expect(res.headers.get("x-request-id")).toMatch(/^req_/);
	});

	it("carries them on a streamed 200", async () => {
		const { key } = await newKey();
		const model = await newModel();
		const { response, done } = await openGateway("/v1/chat/completions", {
			key,
			json: chat(model, "streamed", { stream: true }),
			headers: { origin: ORIGIN },
		});
		expect(response.status).toBe(200);
		expect(response.headers.get("content-type")).toContain("text/event-stream");
		expectCors(response.headers);
		expect(sseData(await response.text()).at(-1)).toBe("[DONE]");
		await done();
	});

	it("carries them on an Idempotency-Key replay (idempotent-replayed exposed) and on its 409 (x-should-retry exposed)", async () => {
		const { key } = await newKey();
		const model = await newModel();
		const headers = { origin: ORIGIN, "idempotency-key": crypto.randomUUID() };
		const first = await callGateway("/v1/chat/completions", { key, json: chat(model, "once"), headers });
		expect(first.status).toBe(200);
		const replayed = await callGateway("/v1/chat/completions", { key, json: chat(model, "once"), headers });
		expect(replayed.headers.get("idempotent-replayed")).toBe("true");
		expectCors(replayed.headers);
		const conflict = await callGateway("/v1/chat/completions", { key, json: chat(model, "another"), headers });
		expect(conflict.status).toBe(409);
		expect(conflict.headers.get("x-should-retry")).toBe("false");
		expectCors(conflict.headers);
	});

	it("carries them on a 401 without a key and a 402 without credit", async () => {
		const model = await newModel();
		const noKey = await callGateway("/v1/chat/completions", { json: chat(model, "no key"), headers: { origin: ORIGIN } });
		expect(noKey.status).toBe(401);
		expectCors(noKey.headers);
		expect(noKey.headers.get("x-request-id")).toMatch(/^req_/);
		const { key } = await newKey({ credit: 0n });
		const broke = await callGateway("/v1/chat/completions", { key, json: chat(model, "no credit"), headers: { origin: ORIGIN } });
		expect(broke.status).toBe(402);
		expectCors(broke.headers);
	});

	it("carries them on a 404, a 413, a 429 (retry-after exposed) and a 502", async () => {
		const { key } = await newKey();
		const model = await newModel({ maxOutputTokens: 100_000 }); // answers of up to 90,000 tokens, below
		const notFound = await callGateway("/v1/no-such-path", { key, headers: { origin: ORIGIN } });
		expect(notFound.status).toBe(404);
		expectCors(notFound.headers);

		const tooLarge = await callGateway("/v1/chat/completions", {
			key,
			json: { ...chat(model, "big"), padding: "x".repeat(1_100_000) },
			headers: { origin: ORIGIN },
		});
		expect(tooLarge.status).toBe(413);
		expectCors(tooLarge.headers);

		// 200,000 tokens per minute in wrangler.toml; each request may use ~90,000.
		const body = chat(model, "many", { stream: true, max_tokens: 90_000 });
		const results = await Promise.all([0, 1, 2].map(() => callGateway("/v1/chat/completions", { key, json: body })));
		const limited = results.find((r) => r.status === 429);
		expect(limited?.headers.get("retry-after")).toBeTruthy();
		expectCors(limited?.headers ?? new Headers());

		const failing = await newModel({ upstreams: [standIn(":http-500")] });
		const upstreamError = await callGateway("/v1/chat/completions", { key, json: chat(failing, "fails") });
		expect(upstreamError.status).toBeGreaterThanOrEqual(500);
		expectCors(upstreamError.headers);
	});

	it("carries them on the OpenAPI document, which API tools in browsers on other origins read", async () => {
		const spec = await callGateway("/openapi.json");
		expect(spec.status).toBe(200);
		expect(spec.json().openapi).toMatch(/^3\./);
		expectCors(spec.headers);
	});

	it("carries them on the other /v1 routes: the catalogue and the account API", async () => {
		expectCors((await callGateway("/v1/models")).headers);
		const unauthorized = await callGateway("/v1/account/keys");
		expect(unauthorized.status).toBe(401);
		expectCors(unauthorized.headers);
	});
});

describe("the admin API stays out of reach of browsers on other origins", () => {
	const admin = { authorization: `Bearer ${testEnv().ADMIN_TOKEN}` };

	it("fails the preflight: no CORS headers, and the admin token check answers it", async () => {
		const res = await callGateway("/v1/admin/credits", {
			method: "OPTIONS",
			headers: { origin: ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "authorization" },
		});
		expect(res.status).toBe(401);
		expect(res.headers.get("access-control-allow-origin")).toBeNull();
		expect(res.headers.get("access-control-allow-headers")).toBeNull();
	});

	it("sends no CORS headers on its answers, successes and errors alike", async () => {
		const model = await newModel();
		const ok = await callGateway(`/v1/admin/models/${model}`, { headers: { ...admin, origin: ORIGIN } });
		expect(ok.status).toBe(200);
		expect(ok.headers.get("access-control-allow-origin")).toBeNull();
		const refused = await callGateway(`/v1/admin/models/${model}`, { headers: { origin: ORIGIN } });
		expect(refused.status).toBe(401);
		expect(refused.headers.get("access-control-allow-origin")).toBeNull();
	});
});
