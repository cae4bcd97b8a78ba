import { describe, expect, it } from "vitest";
import { ledgerFor } from "../../workers/gateway/accounts.ts";
import { newKey, newModel, standIn, testEnv, upstreamRequestsWith } from "../helpers/fixtures.ts";
import { callGateway, chatRepeatedly, sseChunks, sseData } from "../helpers/gateway.ts";

// Upstream timeouts and fallback (workers/gateway/upstreams/index.ts). The stand-ins'
// ":slow-answer" (OpenAI-compatible) and ":slow" (Workers AI) take 1 s to send a
// non-stream answer, headers included, as vLLM, TGI, Ollama, llama.cpp and AI.run do.

const workersAI = (name: string) => ({ kind: "workers-ai" as const, baseUrl: null, upstreamModel: name, apiKeySecret: null });

describe("non-stream answers are bounded by the total timeout, not the headers timeout", () => {
	it("waits past the headers timeout for a slowly generated answer, without trying the next upstream", async () => {
		const { key } = await newKey();
		const marker = crypto.randomUUID();
		const model = await newModel({ upstreams: [standIn(":slow-answer"), standIn()] });
		const started = Date.now();
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, messages: [{ role: "user", content: marker }] },
			env: { UPSTREAM_HEADERS_TIMEOUT_MS: "300" },
		});
		expect(res.status).toBe(200);
		expect(Date.now() - started).toBeGreaterThanOrEqual(900);
		const seen = await upstreamRequestsWith(marker);
		expect(seen.map((r) => r.body.model)).toEqual(["stand-in:slow-answer"]);
	});

	it("waits past the headers timeout for a slow Workers AI run", async () => {
		const { key } = await newKey();
		const model = await newModel({ upstreams: [workersAI("@cf/test/stand-in:slow")] });
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, max_tokens: 3, messages: [{ role: "user", content: "hi" }] },
			env: { UPSTREAM_HEADERS_TIMEOUT_MS: "300" },
		});
		expect(res.status).toBe(200);
		expect(res.json().choices[0].message.content).toBe("Workers AI stand-in");
	});

	it("gives up on a non-stream upstream silent past the total timeout and uses the next", async () => {
		const { key } = await newKey();
		const model = await newModel({ upstreams: [standIn(":hang"), standIn()] });
		const started = Date.now();
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, messages: [{ role: "user", content: "hi" }] },
			env: { UPSTREAM_HEADERS_TIMEOUT_MS: "300", UPSTREAM_TOTAL_TIMEOUT_MS: "1000" },
		});
		expect(res.status).toBe(200);
		expect(Date.now() - started).toBeGreaterThanOrEqual(900);
	});
});

describe("Workers AI streams obey the first-byte and total timeouts", () => {
	it("gives up on a Workers AI stream whose first byte never comes and uses the next upstream", async () => {
		const { key } = await newKey();
		const model = await newModel({ upstreams: [workersAI("@cf/test/stand-in:silent-stream"), standIn()] });
		const started = Date.now();
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, stream: true, messages: [{ role: "user", content: "hi" }] },
			env: { UPSTREAM_FIRST_BYTE_TIMEOUT_MS: "300" },
		});
		expect(res.status).toBe(200);
		expect(sseData(res.text).at(-1)).toBe("[DONE]");
		expect(sseChunks(res.text)[0].choices[0].delta.content).toBe("This");
		expect(Date.now() - started).toBeGreaterThanOrEqual(250);
	});
});

describe("an upstream's errors are its own failures, the request's are the client's", () => {
	const misconfigured = {
		noSecret: {
			kind: "openai" as const,
			baseUrl: "http://127.0.0.1:9/v1",
			upstreamModel: "x",
			apiKeySecret: "UPSTREAM_KEY_NEVER_SET",
		},
		noUrl: { kind: "openai" as const, baseUrl: null, upstreamModel: "x", apiKeySecret: null },
		noWorkersAIModel: { kind: "workers-ai" as const, baseUrl: null, upstreamModel: null, apiKeySecret: null },
	};

	it("falls back when an upstream answers 401, 403, 404 or 408", async () => {
		const { key } = await newKey();
		for (const status of [401, 403, 404, 408]) {
			const model = await newModel({ upstreams: [standIn(`:http-${status}`), standIn()] });
			const res = await callGateway("/v1/chat/completions", {
				key,
				json: { model, messages: [{ role: "user", content: "hi" }] },
			});
			expect(res.status, `after HTTP ${status}`).toBe(200);
			expect(res.json().choices[0].message.content).toContain("stand-in");
		}
	});

	it("answers 502 naming the upstream, not the client, free of charge, when the only upstream refuses the gateway's key", async () => {
		const { key, payer } = await newKey();
		const model = await newModel({ upstreams: [standIn(":http-401")] });
		const res = await callGateway("/v1/chat/completions", { key, json: { model, messages: [{ role: "user", content: "hi" }] } });
		expect(res.status).toBe(502);
		const { error } = res.json();
		expect(error).toMatchObject({
			type: "api_error",
			code: "upstream_error",
			message: expect.stringContaining("upstream failed"),
		});
		expect(error.message).toContain("HTTP 401");
		expect(error.message).not.toContain("Incorrect API key");
		expect((await ledgerFor(testEnv(), payer).account()).totalSpent).toBe(0n);
	});

	it("tries the next upstream when the ones before it are misconfigured (no secret, no URL, no Workers AI model)", async () => {
		const { key } = await newKey();
		const { noSecret, noUrl, noWorkersAIModel } = misconfigured;
		const model = await newModel({ upstreams: [noSecret, noUrl, noWorkersAIModel, standIn()] });
		const res = await callGateway("/v1/chat/completions", { key, json: { model, messages: [{ role: "user", content: "hi" }] } });
		expect(res.status).toBe(200);
		expect(res.json().choices[0].message.content).toContain("stand-in");
	});

	it("answers 503 upstream_unavailable naming the upstream when every upstream is misconfigured", async () => {
		const { key } = await newKey();
		const model = await newModel({ upstreams: [misconfigured.noSecret] });
		const res = await callGateway("/v1/chat/completions", { key, json: { model, messages: [{ role: "user", content: "hi" }] } });
		expect(res.status).toBe(503);
		expect(res.json().error).toMatchObject({
			type: "api_error",
			code: "upstream_unavailable",
			message: expect.stringContaining("not configured correctly"),
		});
	});

	it("passes a 400, 413 or 422 on as the client's error without trying the next upstream", async () => {
		const { key } = await newKey();
		for (const [status, answered, code] of [
			[400, 400, "invalid_request"],
			[413, 413, "request_too_large"],
			[422, 400, "invalid_request"],
		] as const) {
			const marker = crypto.randomUUID();
			const model = await newModel({ upstreams: [standIn(`:http-${status}`), standIn()] });
			const res = await callGateway("/v1/chat/completions", {
				key,
				json: { model, messages: [{ role: "user", content: marker }] },
			});
			expect(res.status, `after HTTP ${status}`).toBe(answered);
			expect(res.json().error.code).toBe(code);
			expect(await upstreamRequestsWith(marker)).toHaveLength(1);
		}
	});

	it("counts an error event inside a stream that blames the request neither as the upstream's failure nor as its success", async () => {
		const { key } = await newKey();
		const marker = crypto.randomUUID();
		// The stand-in answers "over-long" prompts with such an event, any other with a 500.
		const model = await newModel({ upstreams: [standIn(":stream-error"), standIn()] });
		const send = async (i: number, overLong: boolean) => {
			const content = `${marker} ${i}${overLong ? " over-long" : ""}`;
			const res = await callGateway("/v1/chat/completions", {
				key,
				json: { model, stream: true, messages: [{ role: "user", content }] },
			});
			expect(res.status).toBe(200);
			return JSON.parse(sseData(res.text)[0] as string);
		};
		// Four over-long prompts: no failure of the upstream, its breaker stays closed.
		for (let i = 0; i < 4; i++) expect((await send(i, true)).error).toMatchObject({ type: "invalid_request_error" });
		// Two failures, an over-long prompt (no success either: the count goes on), a third failure.
		await send(4, false);
		await send(5, false);
		await send(6, true);
		await send(7, false);
		// The breaker is open: the next request goes to the second upstream alone.
		await send(8, false);
		const seen = await upstreamRequestsWith(marker);
		const first = seen.filter((r) => r.body.model === "stand-in:stream-error");
		expect(first).toHaveLength(8);
	});

	it("does not count the client's own 400 as the upstream's failure (its breaker stays closed)", async () => {
		const { key } = await newKey();
		const marker = crypto.randomUUID();
		const model = await newModel({ upstreams: [standIn(":http-400"), standIn()] });
		expect(await chatRepeatedly(key, model, marker, 4)).toEqual(Array(4).fill(400));
		const seen = await upstreamRequestsWith(marker);
		expect(seen.map((r) => r.body.model)).toEqual(Array(4).fill("stand-in:http-400"));
	});

	it("keeps the earlier upstreams' failures for the breaker when a later one answers the client's 400", async () => {
		const { key } = await newKey();
		const marker = crypto.randomUUID();
		const model = await newModel({ upstreams: [standIn(":http-500"), standIn(":http-400")] });
		expect(await chatRepeatedly(key, model, marker, 4)).toEqual(Array(4).fill(400));
		const seen = await upstreamRequestsWith(marker);
		// Three failures of #0 open its breaker: the fourth request goes to #1 alone.
		expect(seen.filter((r) => r.body.model === "stand-in:http-500")).toHaveLength(3);
	});

	it("opens the breaker of a misconfigured upstream", async () => {
		const { key } = await newKey();
		const marker = crypto.randomUUID();
		const model = await newModel({ upstreams: [misconfigured.noSecret, standIn(":http-400")] });
		expect(await chatRepeatedly(key, model, marker, 4)).toEqual(Array(4).fill(400));
		expect(await upstreamRequestsWith(marker)).toHaveLength(4);
	});
});
