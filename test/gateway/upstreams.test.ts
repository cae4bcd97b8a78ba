import { describe, expect, it } from "vitest";
import { ledgerFor } from "../../workers/gateway/accounts.ts";
import { countTokens } from "../../workers/gateway/streaming/tokens.ts";
import { newKey, newModel, standIn, testEnv, upstreamRequestsWith } from "../helpers/fixtures.ts";
import { callGateway, flushMeter, sseChunks, sseData, usageRowsForModel } from "../helpers/gateway.ts";

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

	it("ends a Workers AI stream that stalls past the total timeout with an error event, charging what was delivered", async () => {
		const { key, payer } = await newKey();
		const model = await newModel({ upstreams: [workersAI("@cf/test/stand-in:stall")] });
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, stream: true, messages: [{ role: "user", content: "go" }] },
			env: { UPSTREAM_TOTAL_TIMEOUT_MS: "1000" },
		});
		expect(res.status).toBe(200);
		const events = sseData(res.text);
		expect(JSON.parse(events.at(-1) as string).error).toMatchObject({ code: "upstream_error" });
		expect(events.slice(0, -1).map((e) => JSON.parse(e).choices[0].delta.content)).toEqual(["Workers", " AI", " stand-in"]);
		await flushMeter(model);
		const [row] = await usageRowsForModel(model);
		// Counted by the gateway: Workers AI reports usage only at the end, which never came.
		expect(row).toMatchObject({ status: "ok", completionTokens: countTokens("Workers AI stand-in"), usageSource: "counted" });
		const account = await ledgerFor(testEnv(), payer).account();
		expect(account.totalSpent).toBe(row?.fee);
		expect(account.held).toBe(0n);
	});
});
