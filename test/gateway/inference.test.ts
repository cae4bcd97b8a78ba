import { describe, expect, it, vi } from "vitest";
import { ledgerFor } from "../../workers/gateway/accounts.ts";
import { tokenCounter } from "../../workers/gateway/streaming/tokens.ts";
import { completionLimitField } from "../../workers/gateway/upstreams/openai-compatible.ts";
import { newKey, newModel, standIn, testEnv, upstreamRequestsWith } from "../helpers/fixtures.ts";
import {
	callAndLeave,
	callGateway,
	chatRepeatedly,
	flushMeter,
	openGateway,
	sseChunks,
	sseData,
	usageRowsForModel,
} from "../helpers/gateway.ts";

// The tokenizer loads on first use; the expectations count synchronously.
const countTokens = await tokenCounter();

// Stand-in facts: it replies with a fixed 14-word sentence, one token per word, and
// counts prompt tokens as the words of the messages' contents.
const REPLY_WORDS = "This reply comes from the Modeldex development stand-in upstream, not from a model.".split(" ");
const IN_PRICE = 2_000_000_000_000_000n;
const OUT_PRICE = 6_000_000_000_000_000n;
const fee = (prompt: number, completion: number) =>
	(BigInt(prompt) * IN_PRICE + BigInt(completion) * OUT_PRICE + 999_999n) / 1_000_000n;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A chat request of two prompt words and at most three answer tokens. */
const hiYou = (model: string, marker?: string) => ({
	model,
	max_tokens: 3,
	messages: [{ role: "user", content: marker ? `hi you ${marker}` : "hi you" }],
});

async function spent(payer: string) {
	return (await ledgerFor(testEnv(), payer).account()).totalSpent;
}

describe("streaming chat completions", () => {
	it("streams the upstream's chunks through and strips the usage chunk the client did not ask for", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const marker = crypto.randomUUID();
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, stream: true, max_tokens: 6, messages: [{ role: "user", content: `one two ${marker}` }] },
		});
		expect(res.status).toBe(200);
		expect(res.headers.get("content-type")).toContain("text/event-stream");
		const events = sseData(res.text);
		expect(events.at(-1)).toBe("[DONE]");
		const chunks = sseChunks(res.text);
		expect(chunks.every((c) => c.usage === undefined)).toBe(true);
		expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe(REPLY_WORDS.slice(0, 6).join(" "));
		// The gateway asked the upstream for usage on the client's behalf.
		const [seen] = await upstreamRequestsWith(marker);
		expect(seen?.body.stream_options).toEqual({ include_usage: true });
		expect(await spent(payer)).toBe(fee(3, 6));
	});

	it("keeps the usage chunk when the client asked for it, and charges what it says", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: {
				model,
				stream: true,
				stream_options: { include_usage: true },
				max_tokens: 4,
				messages: [{ role: "user", content: "a b c d e" }],
			},
		});
		const chunks = sseChunks(res.text);
		expect(chunks.at(-1)?.usage).toEqual({ prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 });
		expect(await spent(payer)).toBe(fee(5, 4));
		await flushMeter(model);
		const [row] = await usageRowsForModel(model);
		expect(row).toMatchObject({ promptTokens: 5, completionTokens: 4, usageSource: "upstream", fee: fee(5, 4) });
	});

	it("bounds the upstream by the hold's completion limit in one field, whichever the client used", async () => {
		const { key } = await newKey();
		const model = await newModel();
		const marker = crypto.randomUUID();
		for (const limits of [{ max_completion_tokens: 2 }, { max_completion_tokens: 2, max_tokens: 100_000 }, { max_tokens: 2 }]) {
			const res = await callGateway("/v1/chat/completions", {
				key,
				json: { model, ...limits, messages: [{ role: "user", content: `${marker} ${JSON.stringify(limits)}` }] },
			});
			expect(res.status).toBe(200);
			expect(res.json().usage.completion_tokens).toBe(2);
		}
		const seen = await upstreamRequestsWith(marker);
		// max_tokens for open-model servers (llama.cpp, TGI and Ollama read only it); never both,
		// which OpenAI's own API refuses (it gets max_completion_tokens instead).
		expect(seen.map((r) => [r.body.max_tokens, r.body.max_completion_tokens])).toEqual([
			[2, undefined],
			[2, undefined],
			[2, undefined],
		]);
		expect(completionLimitField("https://api.openai.com/v1")).toBe("max_completion_tokens");
		expect(completionLimitField("https://my-resource.openai.azure.com/openai/v1")).toBe("max_completion_tokens");
		expect(completionLimitField("http://vllm.internal:8000/v1")).toBe("max_tokens");
	});

	it("counts tokens itself, and says so, when the upstream sends no usage", async () => {
		const { key, payer } = await newKey();
		const model = await newModel({ behaviour: ":no-usage" });
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, stream: true, max_tokens: 5, messages: [{ role: "user", content: "hello there" }] },
		});
		expect(res.status).toBe(200);
		await flushMeter(model);
		const [row] = await usageRowsForModel(model);
		expect(row?.usageSource).toBe("counted");
		expect(row?.completionTokens).toBeGreaterThanOrEqual(5);
		expect(row?.promptTokens).toBeGreaterThan(0);
		expect(await spent(payer)).toBe(row?.fee);
	});

	it.each([
		["/v1/chat/completions", { messages: [{ role: "user", content: "hello there" }] }, "chat.completion.chunk"],
		["/v1/completions", { prompt: "hello there" }, "text_completion"],
	])(
		"ends a stream on %s with a usage chunk of the counted tokens when the client asked for usage and the upstream sent none",
		async (path, fields, object) => {
			const { key, payer } = await newKey();
			const model = await newModel({ behaviour: ":no-usage" });
			const res = await callGateway(path, {
				key,
				json: { model, stream: true, stream_options: { include_usage: true }, max_tokens: 5, ...fields },
			});
			expect(res.status).toBe(200);
			const data = sseData(res.text);
			expect(data.at(-1)).toBe("[DONE]");
			const chunks = sseChunks(res.text);
			const last = chunks.at(-1);
			const prompt = countTokens("hello there");
			const completion = countTokens("This reply comes from the");
			expect(last).toEqual({
				id: chunks[0].id,
				object,
				created: chunks[0].created,
				model: chunks[0].model,
				choices: [],
				usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
			});
			// One usage chunk, the last before [DONE].
			expect(chunks.filter((c) => c.usage)).toHaveLength(1);
			expect(await spent(payer)).toBe(fee(prompt, completion));
		},
	);

	it("charges only for tokens delivered before the client disconnected, and aborts the upstream", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const { response, done } = await openGateway("/v1/chat/completions", {
			key,
			json: { model, stream: true, max_tokens: 14, messages: [{ role: "user", content: "tell me" }] },
		});
		const reader = (response.body as ReadableStream<Uint8Array>).getReader();
		const decoder = new TextDecoder();
		let received = "";
		while (sseData(received).length < 3) {
			const { value, done: ended } = await reader.read();
			if (ended) break;
			received += decoder.decode(value, { stream: true });
		}
		await reader.cancel();
		await done();
		const delivered = sseData(received).length;
		expect(delivered).toBeLessThan(REPLY_WORDS.length);
		await flushMeter(model);
		const [row] = await usageRowsForModel(model);
		expect(row?.completionTokens).toBeGreaterThanOrEqual(delivered - 1);
		expect(row?.completionTokens).toBeLessThan(REPLY_WORDS.length);
		expect(row?.fee).toBe(fee(row?.promptTokens ?? 0, row?.completionTokens ?? 0));
		expect(await spent(payer)).toBe(row?.fee);
	});

	it.each([
		["a non-stream client goes away", ":slow-answer", false],
		["a stream's client goes away before the first byte", ":hang", true],
	])("aborts the upstream when %s, and charges the prompt only", async (_who, behaviour, stream) => {
		const { key, payer } = await newKey();
		const model = await newModel({ behaviour });
		const marker = crypto.randomUUID();
		const started = Date.now();
		// The stand-in answers after 1 s, or never; the client leaves once the gateway is waiting on it.
		await callAndLeave(
			"/v1/chat/completions",
			{ key, json: { model, stream, max_tokens: 14, messages: [{ role: "user", content: `three words ${marker}` }] } },
			() => vi.waitFor(async () => expect(await upstreamRequestsWith(marker)).toHaveLength(1)),
		);
		await vi.waitFor(async () => expect((await upstreamRequestsWith(marker))[0]?.abandoned).toBe(true));
		expect(Date.now() - started).toBeLessThan(1_000);
		await flushMeter(model);
		const [row] = await usageRowsForModel(model);
		// Nothing of the answer reached the client; the upstream had the prompt.
		expect(row).toMatchObject({ status: "ok", completionTokens: 0, usageSource: "counted" });
		expect(row?.promptTokens).toBeGreaterThan(0);
		expect(await spent(payer)).toBe(fee(row?.promptTokens ?? 0, 0));
		expect((await ledgerFor(testEnv(), payer).account()).held).toBe(0n);
	});

	it("charges nothing when the client left before any upstream had the request", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const marker = crypto.randomUUID();
		const client = new AbortController();
		client.abort();
		await callGateway("/v1/chat/completions", {
			key,
			signal: client.signal,
			json: { model, messages: [{ role: "user", content: `three words ${marker}` }] },
		});
		expect(await upstreamRequestsWith(marker)).toHaveLength(0);
		expect(await spent(payer)).toBe(0n);
		expect((await ledgerFor(testEnv(), payer).account()).held).toBe(0n);
	});

	it("ends with an SSE error event and charges delivered tokens only when the upstream dies mid-stream", async () => {
		const { key, payer } = await newKey();
		const model = await newModel({ behaviour: ":die-midstream" });
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "go" }] },
		});
		expect(res.status).toBe(200);
		const events = sseData(res.text);
		const last = JSON.parse(events.at(-1) as string);
		expect(last.error).toMatchObject({ type: "api_error", code: "upstream_error" });
		const contentChunks = events.slice(0, -1).length;
		expect(contentChunks).toBe(3); // the stand-in dies after three words
		await flushMeter(model);
		const [row] = await usageRowsForModel(model);
		expect(row?.completionTokens).toBe(3);
		expect(await spent(payer)).toBe(row?.fee);
		expect((await ledgerFor(testEnv(), payer).account()).held).toBe(0n);
	});
});

describe("completions and embeddings", () => {
	it("meters POST /v1/completions like chat", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const res = await callGateway("/v1/completions", { key, json: { model, prompt: "Once upon a time", max_tokens: 3 } });
		expect(res.status).toBe(200);
		expect(res.json()).toMatchObject({ object: "text_completion", choices: [{ text: "This reply comes" }] });
		expect(await spent(payer)).toBe(fee(4, 3));
	});

	it("meters POST /v1/embeddings on input tokens alone", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const res = await callGateway("/v1/embeddings", { key, json: { model, input: ["alpha beta", "gamma"] } });
		expect(res.status).toBe(200);
		const body = res.json();
		expect(body.data).toHaveLength(2);
		expect(body.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
		expect(await spent(payer)).toBe(fee(3, 0));
	});

	it("gives a non-stream answer whose upstream reported no usage the counted usage it is charged for", async () => {
		const { key, payer } = await newKey();
		const chatModel = await newModel({ behaviour: ":no-usage" });
		const init = {
			key,
			headers: { "idempotency-key": `counted-${crypto.randomUUID()}` },
			json: { model: chatModel, max_tokens: 4, messages: [{ role: "user", content: "hello there" }] },
		};
		const chat = await callGateway("/v1/chat/completions", init);
		expect(chat.status).toBe(200);
		const prompt = countTokens("hello there");
		const completion = countTokens("This reply comes from");
		expect(chat.json().usage).toEqual({
			prompt_tokens: prompt,
			completion_tokens: completion,
			total_tokens: prompt + completion,
		});
		expect(await spent(payer)).toBe(fee(prompt, completion));
		// A retry replays the answer as the client first got it.
		const replayed = await callGateway("/v1/chat/completions", init);
		expect(replayed.headers.get("idempotent-replayed")).toBe("true");
		expect(replayed.text).toBe(chat.text);

		const embeddingModel = await newModel({
			upstreams: [{ kind: "workers-ai", baseUrl: null, upstreamModel: "@cf/test/embeddings", apiKeySecret: null }],
		});
		const embedded = await callGateway("/v1/embeddings", { key, json: { model: embeddingModel, input: "hello world" } });
		expect(embedded.status).toBe(200);
		const tokens = countTokens("hello world");
		expect(embedded.json().usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
	});
});

describe("Workers AI upstreams (through the test stand-in bound as AI)", () => {
	const workersAI = (name = "@cf/test/stand-in") =>
		newModel({ upstreams: [{ kind: "workers-ai", baseUrl: null, upstreamModel: name, apiKeySecret: null }] });

	it.each([
		["its own", "@cf/test/stand-in"],
		["OpenAI's (as some models answer)", "@cf/test/stand-in:openai-shaped"],
	])("answers chat from Workers AI's output in %s format in OpenAI's, and charges Workers AI's usage", async (_shape, name) => {
		const { key, payer } = await newKey();
		const model = await workersAI(name);
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, max_tokens: 3, messages: [{ role: "user", content: "hi you" }] },
		});
		expect(res.status).toBe(200);
		expect(res.json()).toMatchObject({
			object: "chat.completion",
			model,
			choices: [{ message: { role: "assistant", content: "Workers AI stand-in" } }],
			usage: { prompt_tokens: 2, completion_tokens: 3 },
		});
		expect(await spent(payer)).toBe(fee(2, 3));
	});

	it("translates a Workers AI stream into OpenAI chunks", async () => {
		const { key } = await newKey();
		const model = await workersAI();
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: {
				model,
				stream: true,
				stream_options: { include_usage: true },
				max_tokens: 4,
				messages: [{ role: "user", content: "x" }],
			},
		});
		const chunks = sseChunks(res.text);
		expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe("Workers AI stand-in reply");
		expect(chunks.at(-1)?.usage).toMatchObject({ prompt_tokens: 1, completion_tokens: 4 });
	});

	it.each([
		["in pieces, as current models stream it", ":tools", '{"city": "Paris"}'],
		["whole, with its arguments as an object (older models)", ":tools-whole", '{"city":"Paris"}'],
	])("streams a Workers AI function call %s as OpenAI tool_call deltas", async (_how, suffix, args) => {
		const { key, payer } = await newKey();
		const model = await workersAI(`@cf/test/stand-in${suffix}`);
		const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }];
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, stream: true, tools, messages: [{ role: "user", content: "weather in Paris?" }] },
		});
		expect(res.status).toBe(200);
		expect(sseData(res.text).at(-1)).toBe("[DONE]");
		const calls = sseChunks(res.text).flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
		// OpenAI's shape: the first delta of a call carries its index, id, type and name; later ones add arguments.
		expect(calls[0]).toMatchObject({ index: 0, type: "function", function: { name: "get_weather" } });
		expect(calls[0].id).toEqual(expect.any(String));
		expect(calls.every((c: { index: number }) => c.index === 0)).toBe(true);
		expect(calls.map((c: { function: { arguments?: string } }) => c.function.arguments ?? "").join("")).toBe(args);
		const finishes = sseChunks(res.text).flatMap((c) =>
			c.choices.map((choice: { finish_reason: string | null }) => choice.finish_reason),
		);
		expect(finishes.filter((f) => f !== null)).toEqual(["tool_calls"]);
		expect(await spent(payer)).toBe(fee(3, 6));
	});

	it("passes a Workers AI stream in OpenAI's chunk format through, reasoning and finish reason included", async () => {
		const { key, payer } = await newKey();
		const model = await workersAI("@cf/test/stand-in:openai-shaped");
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, stream: true, max_tokens: 4, messages: [{ role: "user", content: "hi you" }] },
		});
		expect(res.status).toBe(200);
		const chunks = sseChunks(res.text);
		expect(chunks.map((c) => c.choices[0]?.delta?.reasoning_content ?? "").join("")).toBe("Thinking it over.");
		expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe("Workers AI stand-in reply");
		const finishes = chunks.flatMap((c) => c.choices.map((choice: { finish_reason: string | null }) => choice.finish_reason));
		expect(finishes.filter((f) => f !== null)).toEqual(["length"]);
		// The gateway's own id and model name, as in its other streams; no usage chunk (not asked for).
		expect(chunks.every((c) => c.model === model && c.object === "chat.completion.chunk" && c.usage === undefined)).toBe(true);
		expect(await spent(payer)).toBe(fee(2, 4));
	});

	it("answers a Workers AI function call as OpenAI tool_calls (arguments as a JSON string)", async () => {
		const { key, payer } = await newKey();
		const model = await workersAI("@cf/test/stand-in:tools");
		const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }];
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, max_tokens: 3, tools, messages: [{ role: "user", content: "weather in Paris?" }] },
		});
		expect(res.status).toBe(200);
		const [choice] = res.json().choices;
		expect(choice).toMatchObject({
			finish_reason: "tool_calls",
			message: {
				role: "assistant",
				content: null,
				tool_calls: [{ type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
			},
		});
		expect(choice.message.tool_calls[0].id).toMatch(/^call_/);
		expect(await spent(payer)).toBe(fee(3, 3));
	});

	it("finishes a non-stream Workers AI request whose client went away, and charges it as generated", async () => {
		const { key, payer } = await newKey();
		const model = await workersAI("@cf/test/stand-in:slow");
		// The stand-in answers after 1 s; the binding cannot be stopped, so the answer is generated anyway.
		await callAndLeave("/v1/chat/completions", { key, json: hiYou(model) }, () => sleep(200));
		await flushMeter(model);
		const [row] = await usageRowsForModel(model);
		expect(row).toMatchObject({ status: "ok", usageSource: "upstream", promptTokens: 2, completionTokens: 3 });
		expect(await spent(payer)).toBe(fee(2, 3));
	});

	it("finishes a Workers AI attempt whose client went away when the model has other upstreams, and tries none of them", async () => {
		const { key, payer } = await newKey();
		const marker = crypto.randomUUID();
		const model = await newModel({
			upstreams: [{ kind: "workers-ai", baseUrl: null, upstreamModel: "@cf/test/stand-in:slow", apiKeySecret: null }, standIn()],
		});
		await callAndLeave("/v1/chat/completions", { key, json: hiYou(model, marker) }, () => sleep(200));
		await flushMeter(model);
		const [row] = await usageRowsForModel(model);
		// Before: the Workers AI attempt was aborted (AI.run went on) and the prompt alone charged.
		expect(row).toMatchObject({ status: "ok", usageSource: "upstream", completionTokens: 3 });
		expect(await spent(payer)).toBe(fee(row?.promptTokens ?? 0, 3));
		expect(await upstreamRequestsWith(marker)).toHaveLength(0);
	});

	it("still aborts another upstream's attempt at once when the client leaves, and falls back to no Workers AI", async () => {
		const { key, payer } = await newKey();
		const marker = crypto.randomUUID();
		const model = await newModel({
			upstreams: [
				standIn(":slow-answer"),
				{ kind: "workers-ai", baseUrl: null, upstreamModel: "@cf/test/stand-in", apiKeySecret: null },
			],
		});
		const started = Date.now();
		await callAndLeave("/v1/chat/completions", { key, json: hiYou(model, marker) }, () =>
			vi.waitFor(async () => expect(await upstreamRequestsWith(marker)).toHaveLength(1)),
		);
		await vi.waitFor(async () => expect((await upstreamRequestsWith(marker))[0]?.abandoned).toBe(true));
		expect(Date.now() - started).toBeLessThan(1_000);
		await flushMeter(model);
		const [row] = await usageRowsForModel(model);
		expect(row).toMatchObject({ status: "ok", completionTokens: 0, usageSource: "counted" });
		expect(await spent(payer)).toBe(fee(row?.promptTokens ?? 0, 0));
	});

	it("starts no fallback for a Workers AI request after its client went away", async () => {
		const { key, payer } = await newKey();
		const model = await newModel({
			upstreams: [
				{ kind: "workers-ai", baseUrl: null, upstreamModel: "@cf/test/stand-in:slow-fail", apiKeySecret: null },
				{ kind: "workers-ai", baseUrl: null, upstreamModel: "@cf/test/stand-in:slow", apiKeySecret: null },
			],
		});
		await callAndLeave("/v1/chat/completions", { key, json: hiYou(model) }, () => sleep(200));
		// The first upstream failed after the client left: nobody could get a fallback's answer.
		expect(await spent(payer)).toBe(0n);
		expect((await ledgerFor(testEnv(), payer).account()).held).toBe(0n);
	});

	it("ends a Workers AI stream cut off before its end with an error event, charging what was delivered", async () => {
		const { key, payer } = await newKey();
		const model = await workersAI("@cf/test/stand-in:cut");
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, stream: true, messages: [{ role: "user", content: "hi you" }] },
		});
		const events = sseData(res.text);
		expect(JSON.parse(events.at(-1) as string).error).toMatchObject({ code: "upstream_error" });
		const chunks = sseChunks(res.text.slice(0, res.text.lastIndexOf("data:")));
		expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe("Workers AI stand-in");
		expect(chunks.every((c) => c.choices[0]?.finish_reason == null)).toBe(true);
		await flushMeter(model);
		const [row] = await usageRowsForModel(model);
		expect(row).toMatchObject({ usageSource: "counted", completionTokens: countTokens("Workers AI stand-in") });
		expect(await spent(payer)).toBe(row?.fee);
	});

	it("embeds through Workers AI and counts the tokens it does not report", async () => {
		const { key } = await newKey();
		const model = await workersAI("@cf/test/embeddings");
		const res = await callGateway("/v1/embeddings", { key, json: { model, input: "hello world" } });
		expect(res.status).toBe(200);
		expect(res.json().data[0].embedding).toEqual([11, 2, 0.5, -0.5]);
		await flushMeter(model);
		const [row] = await usageRowsForModel(model);
		expect(row).toMatchObject({ usageSource: "counted", completionTokens: 0 });
	});
});

describe("upstream failures", () => {
	it("answers 502, free of charge, when an upstream's 200 is JSON but not an answer", async () => {
		const { key, payer } = await newKey();
		// An upstream URL that reaches another service: the stand-in's request log answers any POST
		// with 200 and a JSON array.
		const base = testEnv().STAND_IN_URL.replace(/\/v1$/, "");
		const model = await newModel({
			upstreams: [{ kind: "openai", baseUrl: `${base}/__requests?`, upstreamModel: "stand-in", apiKeySecret: null }],
		});
		for (const [path, json] of [
			["/v1/chat/completions", hiYou(model)],
			["/v1/completions", { model, prompt: "hi you", max_tokens: 3 }],
			["/v1/embeddings", { model, input: "hi you" }],
		] as const) {
			const res = await callGateway(path, { key, json });
			expect(res.status, path).toBe(502);
			expect(res.json().error).toMatchObject({ code: "upstream_error", type: "api_error" });
		}
		expect(await spent(payer)).toBe(0n);
		expect((await ledgerFor(testEnv(), payer).account()).held).toBe(0n);
	});

	it("falls back to the next upstream when the first refuses connections", async () => {
		const { key } = await newKey();
		const dead = { kind: "openai" as const, baseUrl: "http://127.0.0.1:9/v1", upstreamModel: "x", apiKeySecret: null };
		const model = await newModel({ upstreams: [dead, standIn()] });
		const res = await callGateway("/v1/chat/completions", { key, json: { model, messages: [{ role: "user", content: "hi" }] } });
		expect(res.status).toBe(200);
		expect(res.json().choices[0].message.content).toContain("stand-in");
	});

	it("falls back when the first upstream answers 5xx, before any byte reached the client", async () => {
		const { key } = await newKey();
		const model = await newModel({ upstreams: [standIn(":http-500"), standIn()] });
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, stream: true, messages: [{ role: "user", content: "hi" }] },
		});
		expect(res.status).toBe(200);
		expect(sseData(res.text).at(-1)).toBe("[DONE]");
	});

	it("gives up on a stream whose headers do not come in time and uses the next upstream", async () => {
		const { key } = await newKey();
		const model = await newModel({ upstreams: [standIn(":hang"), standIn()] });
		const started = Date.now();
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, stream: true, messages: [{ role: "user", content: "hi" }] },
		});
		expect(res.status).toBe(200);
		expect(sseData(res.text).at(-1)).toBe("[DONE]");
		expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
	});

	it("gives up on a stream whose first byte never comes and uses the next upstream", async () => {
		const { key } = await newKey();
		const model = await newModel({ upstreams: [standIn(":silent-stream"), standIn()] });
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, stream: true, messages: [{ role: "user", content: "hi" }] },
		});
		expect(res.status).toBe(200);
		expect(sseData(res.text).at(-1)).toBe("[DONE]");
	});

	it("applies a first-byte timeout shorter than the headers timeout", async () => {
		const { key } = await newKey();
		const model = await newModel({ upstreams: [standIn(":silent-stream"), standIn()] });
		const started = Date.now();
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, stream: true, messages: [{ role: "user", content: "hi" }] },
			env: { UPSTREAM_HEADERS_TIMEOUT_MS: "5000", UPSTREAM_FIRST_BYTE_TIMEOUT_MS: "300" },
		});
		expect(res.status).toBe(200);
		expect(sseData(res.text).at(-1)).toBe("[DONE]");
		const elapsed = Date.now() - started;
		expect(elapsed).toBeGreaterThanOrEqual(250);
		expect(elapsed).toBeLessThan(3000);
	});

	it("answers 504 upstream_timeout, free of charge, when the only upstream hangs", async () => {
		const { key, payer } = await newKey();
		const model = await newModel({ upstreams: [standIn(":hang")] });
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, messages: [{ role: "user", content: "hi" }] },
			env: { UPSTREAM_TOTAL_TIMEOUT_MS: "1000" },
		});
		expect(res.status).toBe(504);
		expect(res.json().error.code).toBe("upstream_timeout");
		expect(await spent(payer)).toBe(0n);
	});

	it("answers 504 upstream_timeout, free of charge, when the body stalls past the total timeout", async () => {
		const { key, payer } = await newKey();
		const model = await newModel({ upstreams: [standIn(":stall")] });
		const started = Date.now();
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, messages: [{ role: "user", content: "hi" }] },
			env: { UPSTREAM_TOTAL_TIMEOUT_MS: "1000" },
		});
		expect(res.status).toBe(504);
		expect(res.json().error.code).toBe("upstream_timeout");
		expect(Date.now() - started).toBeGreaterThanOrEqual(900);
		expect(await spent(payer)).toBe(0n);
		expect((await ledgerFor(testEnv(), payer).account()).held).toBe(0n);
	});

	it.each([
		["an OpenAI-compatible", standIn(":stall")],
		[
			"a Workers AI",
			{ kind: "workers-ai" as const, baseUrl: null, upstreamModel: "@cf/test/stand-in:stall", apiKeySecret: null },
		],
	])(
		"ends %s stream that stalls past the total timeout with an error event, charging what was delivered",
		async (_kind, upstream) => {
			const { key, payer } = await newKey();
			const model = await newModel({ upstreams: [upstream] });
			const res = await callGateway("/v1/chat/completions", {
				key,
				json: { model, stream: true, messages: [{ role: "user", content: "go" }] },
				env: { UPSTREAM_TOTAL_TIMEOUT_MS: "1000" },
			});
			expect(res.status).toBe(200);
			const events = sseData(res.text);
			expect(JSON.parse(events.at(-1) as string).error).toMatchObject({ code: "upstream_error" });
			const delivered = events.slice(0, -1).map((e) => JSON.parse(e).choices[0].delta.content ?? "");
			expect(delivered).toHaveLength(3);
			await flushMeter(model);
			const [row] = await usageRowsForModel(model);
			// Counted by the gateway: the upstream's usage comes only at the end, which never came.
			expect(row).toMatchObject({ status: "ok", completionTokens: countTokens(delivered.join("")), usageSource: "counted" });
			expect(await spent(payer)).toBe(row?.fee);
			expect((await ledgerFor(testEnv(), payer).account()).held).toBe(0n);
		},
	);

	it("opens the breaker after repeated failures and sends traffic to the healthy upstream first", async () => {
		const { key } = await newKey();
		const marker = crypto.randomUUID();
		const model = await newModel({ upstreams: [standIn(":http-500"), standIn()] });
		expect(await chatRepeatedly(key, model, marker, 4)).toEqual(Array(4).fill(200));
		const seen = await upstreamRequestsWith(marker);
		const failedTries = seen.filter((r) => String(r.body.model).endsWith(":http-500")).length;
		// Three failures open the breaker; the fourth request goes straight to the healthy upstream.
		expect(failedTries).toBe(3);
	});

	it("passes an upstream's 4xx on as the client's error without retrying elsewhere, free of charge", async () => {
		const { key, payer } = await newKey();
		const marker = crypto.randomUUID();
		const model = await newModel({ upstreams: [standIn(":http-400"), standIn()] });
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, messages: [{ role: "user", content: marker }] },
		});
		expect(res.status).toBe(400);
		expect(res.json().error).toMatchObject({ code: "invalid_request", message: expect.stringContaining("context is too long") });
		expect(await upstreamRequestsWith(marker)).toHaveLength(1);
		expect(await spent(payer)).toBe(0n);
	});
});
