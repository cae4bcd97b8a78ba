import { afterEach, describe, expect, it, vi } from "vitest";
import { newKey, newModel, standIn, testEnv } from "../helpers/fixtures.ts";
import { callGateway } from "../helpers/gateway.ts";

// The operator's view of upstream trouble: one JSON line (console.warn, which Workers Logs
// indexes) per failed attempt or failed answer, naming the request, model, upstream and why.
// The client's error says only what it needs; the breaker gets only a reason.

function upstreamLogs(spy: { mock: { calls: unknown[][] } }): Array<Record<string, unknown>> {
	return spy.mock.calls
		.map((args): Record<string, unknown> | null =>
			typeof args[0] === "string" && args[0].startsWith("{") ? JSON.parse(args[0]) : null,
		)
		.filter((line): line is Record<string, unknown> => line?.event === "upstream_failed");
}

const chat = (model: string, extra: Record<string, unknown> = {}) => ({
	model,
	messages: [{ role: "user", content: "hi" }],
	...extra,
});

describe("upstream failure logs", () => {
	afterEach(() => {
		vi.restoreAllMocks();
	});

	it("logs each failed attempt of a request that a fallback then served, with its request id", async () => {
		const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
		const { key } = await newKey();
		const dead = { kind: "openai" as const, baseUrl: "http://127.0.0.1:9/v1", upstreamModel: "x", apiKeySecret: null };
		const model = await newModel({ upstreams: [dead, standIn(":http-503"), standIn()] });
		const res = await callGateway("/v1/chat/completions", { key, json: chat(model) });
		expect(res.status).toBe(200);
		const requestId = res.headers.get("x-request-id");
		expect(upstreamLogs(warn)).toEqual([
			expect.objectContaining({ request_id: requestId, model, upstream: 0, kind: "openai", reason: "network" }),
			{
				event: "upstream_failed",
				request_id: requestId,
				model,
				upstream: 1,
				kind: "openai",
				reason: "http 503",
				detail: expect.stringContaining("HTTP 503"),
			},
		]);
	});

	it("logs a stream that dies after its first chunk, and an answer that is not an answer", async () => {
		const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
		const { key } = await newKey();
		const dying = await newModel({ behaviour: ":die-midstream" });
		const streamed = await callGateway("/v1/chat/completions", { key, json: chat(dying, { stream: true }) });
		expect(streamed.status).toBe(200);
		const base = testEnv().STAND_IN_URL.replace(/\/v1$/, "");
		const elsewhere = await newModel({
			upstreams: [{ kind: "openai", baseUrl: `${base}/__requests?`, upstreamModel: "stand-in", apiKeySecret: null }],
		});
		const wrong = await callGateway("/v1/chat/completions", { key, json: chat(elsewhere) });
		expect(wrong.status).toBe(502);
		expect(upstreamLogs(warn)).toEqual([
			expect.objectContaining({ request_id: streamed.headers.get("x-request-id"), model: dying, upstream: 0, reason: "stream" }),
			expect.objectContaining({
				request_id: wrong.headers.get("x-request-id"),
				model: elsewhere,
				reason: "not_an_answer",
				detail: expect.stringMatching(/^The upstream's JSON is not an OpenAI-format answer: "\[/),
			}),
		]);
	});

	it("logs nothing for a request served by its first upstream, or refused by the upstream as the client's fault", async () => {
		const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
		const { key } = await newKey();
		expect((await callGateway("/v1/chat/completions", { key, json: chat(await newModel()) })).status).toBe(200);
		const tooLong = await newModel({ behaviour: ":http-400" });
		expect((await callGateway("/v1/chat/completions", { key, json: chat(tooLong) })).status).toBe(400);
		expect(upstreamLogs(warn)).toEqual([]);
	});
});
