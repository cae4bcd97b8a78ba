import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { callWorkersAI } from "../../workers/gateway/upstreams/workers-ai.ts";

// The Workers AI adapter's stream translation, read by the official openai client's stream
// helper (which assembles the answer and checks its shape), on streams a fake AI binding
// sends event by event: shapes the test stand-in does not cover.

const encoder = new TextEncoder();

function fakeAI(events: unknown[]) {
	const run = async () =>
		new ReadableStream<Uint8Array>({
			start(controller) {
				for (const event of events) controller.enqueue(encoder.encode(`data: ${JSON.stringify(event)}\n\n`));
				controller.enqueue(encoder.encode("data: [DONE]\n\n"));
				controller.close();
			},
		});
	return { WORKERS_AI_BINDING: "FAKE_AI", FAKE_AI: { run } } as never;
}

const upstream = { kind: "workers-ai", upstreamModel: "@cf/test/fake", baseUrl: null, apiKeySecret: null, position: 0 } as never;

function finalAnswer(events: unknown[]) {
	const fetch = () =>
		callWorkersAI(
			fakeAI(events),
			upstream,
			"/chat/completions",
			{ model: "m", stream: true, messages: [{ role: "user", content: "hi" }] },
			new AbortController().signal,
		);
	const openai = new OpenAI({ apiKey: "x", baseURL: "https://gateway.test/v1", fetch, maxRetries: 0 });
	return openai.chat.completions.stream({ model: "m", messages: [{ role: "user", content: "hi" }] }).finalChatCompletion();
}

describe("Workers AI streams, as the openai client's stream helper reads them", () => {
	it("gives an empty answer its role", async () => {
		const answer = await finalAnswer([{ response: "" }, { response: "", usage: { prompt_tokens: 1, completion_tokens: 0 } }]);
		expect(answer.choices[0]).toMatchObject({ finish_reason: "stop", message: { role: "assistant" } });
	});

	it("gives OpenAI-shaped chunks without a role the assistant's", async () => {
		const answer = await finalAnswer([
			{ choices: [{ index: 0, delta: { content: "hi" }, finish_reason: null }] },
			{ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
		]);
		expect(answer.choices[0]).toMatchObject({ finish_reason: "stop", message: { role: "assistant", content: "hi" } });
	});

	it("keeps whole calls without an index, in separate events, apart", async () => {
		const answer = await finalAnswer([
			{ response: "", tool_calls: [{ name: "a", arguments: { x: 1 } }] },
			{ response: "", tool_calls: [{ name: "b", arguments: { y: 2 } }] },
		]);
		expect(answer.choices[0]?.finish_reason).toBe("tool_calls");
		expect(answer.choices[0]?.message.tool_calls?.map((c) => (c.type === "function" ? c.function : null))).toEqual([
			{ name: "a", arguments: '{"x":1}' },
			{ name: "b", arguments: '{"y":2}' },
		]);
	});

	it("continues a call's arguments sent without an index", async () => {
		const answer = await finalAnswer([
			{ response: "", tool_calls: [{ id: "call_1", type: "function", function: { name: "a" } }] },
			{ response: "", tool_calls: [{ function: { arguments: '{"x":' } }] },
			{ response: "", tool_calls: [{ function: { arguments: "1}" } }] },
		]);
		expect(answer.choices[0]?.message.tool_calls).toEqual([
			{ id: "call_1", type: "function", function: { name: "a", arguments: '{"x":1}' } },
		]);
	});

	it("finishes with tool_calls after OpenAI-shaped tool call chunks that name no finish reason", async () => {
		const call = { index: 0, id: "call_9", type: "function", function: { name: "a", arguments: "{}" } };
		const answer = await finalAnswer([
			{ choices: [{ index: 0, delta: { role: "assistant", tool_calls: [call] }, finish_reason: null }] },
		]);
		expect(answer.choices[0]?.finish_reason).toBe("tool_calls");
	});
});
