import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { ledgerFor } from "../../workers/gateway/accounts.ts";
import worker from "../../workers/gateway/index.ts";
import { newKey, newModel, testEnv } from "../helpers/fixtures.ts";

// The official `openai` client, unchanged, pointed at the gateway. Only its fetch is
// swapped for an in-process call, so the test can wait for the gateway's deferred work.
function client(apiKey: string, maxRetries = 0) {
	const pending: Array<Promise<void>> = [];
	const sent = { requests: 0 };
	const fetch = async (input: string | URL | Request, init?: RequestInit) => {
		sent.requests++;
		const ctx = createExecutionContext();
		const response = await worker.fetch(new Request(input, init), testEnv(), ctx);
		pending.push(waitOnExecutionContext(ctx));
		return response;
	};
	const openai = new OpenAI({ apiKey, baseURL: "https://gateway.test/v1", fetch, maxRetries });
	return { openai, sent, settled: () => Promise.all(pending) };
}

describe("the official openai client against the gateway", () => {
	it("does not retry a 409 for an Idempotency-Key used for another request (it retries every 409 unless told)", async () => {
		const { key } = await newKey();
		const model = await newModel();
		const { openai, sent, settled } = client(key, 2);
		const headers = { "Idempotency-Key": `no-retry-${crypto.randomUUID()}` };
		await openai.chat.completions.create({ model, max_tokens: 2, messages: [{ role: "user", content: "first" }] }, { headers });
		await settled();
		const before = sent.requests;
		const reused = openai.chat.completions.create(
			{ model, max_tokens: 2, messages: [{ role: "user", content: "another" }] },
			{ headers },
		);
		await expect(reused).rejects.toBeInstanceOf(OpenAI.ConflictError);
		expect(sent.requests - before).toBe(1);
	});

	it("creates a chat completion", async () => {
		const { key } = await newKey();
		const model = await newModel();
		const { openai } = client(key);
		const completion = await openai.chat.completions.create({
			model,
			max_tokens: 4,
			messages: [{ role: "user", content: "Hello" }],
		});
		expect(completion.choices[0]?.message.content).toBe("This reply comes from");
		expect(completion.usage).toMatchObject({ prompt_tokens: 1, completion_tokens: 4 });
	});

	it("streams a chat completion, with usage when asked", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const { openai, settled } = client(key);
		const stream = await openai.chat.completions.create({
			model,
			max_tokens: 5,
			stream: true,
			stream_options: { include_usage: true },
			messages: [{ role: "user", content: "Hello there" }],
		});
		let text = "";
		let usage: OpenAI.CompletionUsage | null | undefined;
		for await (const chunk of stream) {
			text += chunk.choices[0]?.delta?.content ?? "";
			if (chunk.usage) usage = chunk.usage;
		}
		await settled();
		expect(text).toBe("This reply comes from the");
		expect(usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 5 });
		expect((await ledgerFor(testEnv(), payer).account()).totalSpent).toBe(
			(2n * 2_000_000_000_000_000n + 5n * 6_000_000_000_000_000n) / 1_000_000n,
		);
	});

	it("assembles a function call streamed from Workers AI", async () => {
		const { key } = await newKey();
		const model = await newModel({
			upstreams: [{ kind: "workers-ai", baseUrl: null, upstreamModel: "@cf/test/stand-in:tools", apiKeySecret: null }],
		});
		const { openai, settled } = client(key);
		const stream = openai.chat.completions.stream({
			model,
			tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }],
			messages: [{ role: "user", content: "weather in Paris?" }],
		});
		const completion = await stream.finalChatCompletion();
		await settled();
		const [choice] = completion.choices;
		expect(choice?.finish_reason).toBe("tool_calls");
		expect(choice?.message.tool_calls).toEqual([
			{ id: expect.any(String), type: "function", function: { name: "get_weather", arguments: '{"city": "Paris"}' } },
		]);
	});

	it("surfaces an upstream that died mid-stream as an APIError", async () => {
		const { key } = await newKey();
		const model = await newModel({ behaviour: ":die-midstream" });
		const { openai } = client(key);
		const stream = await openai.chat.completions.create({ model, stream: true, messages: [{ role: "user", content: "x" }] });
		await expect(async () => {
			for await (const _ of stream) {
				// drain
			}
		}).rejects.toThrow(OpenAI.APIError);
	});

	it("creates a text completion and embeddings", async () => {
		const { key } = await newKey();
		const model = await newModel();
		const { openai } = client(key);
		const completion = await openai.completions.create({ model, prompt: "Say", max_tokens: 2 });
		expect(completion.choices[0]?.text).toBe("This reply");
		const embeddings = await openai.embeddings.create({ model, input: ["one", "two three"], encoding_format: "float" });
		expect(embeddings.data).toHaveLength(2);
		expect(embeddings.usage.prompt_tokens).toBe(3);
	});

	it("answers embeddings as base64 when asked (the client's default), from upstreams that answer only floats", async () => {
		const { key } = await newKey();
		const { openai } = client(key);
		const input = ["one", "two three"];
		const models = [
			await newModel(),
			await newModel({
				upstreams: [{ kind: "workers-ai", baseUrl: null, upstreamModel: "@cf/test/embeddings", apiKeySecret: null }],
			}),
		];
		for (const model of models) {
			const floats = await openai.embeddings.create({ model, input, encoding_format: "float" });
			const base64 = await openai.embeddings.create({ model, input, encoding_format: "base64" });
			// No encoding_format: the client asks for base64 on the wire and decodes it.
			const byDefault = await openai.embeddings.create({ model, input });
			for (const [i, { embedding }] of floats.data.entries()) {
				expect(embedding.every((v) => typeof v === "number")).toBe(true);
				const encoded = base64.data[i]?.embedding as unknown as string;
				expect(typeof encoded, model).toBe("string");
				const bytes = Uint8Array.from(atob(encoded), (ch) => ch.charCodeAt(0));
				const decoded = [...new Float32Array(bytes.buffer)];
				expect(decoded).toEqual(embedding.map(Math.fround));
				expect(byDefault.data[i]?.embedding).toEqual(decoded);
			}
		}
	});

	it("lists and retrieves models", async () => {
		const { key } = await newKey();
		const model = await newModel();
		const { openai } = client(key);
		const list = await openai.models.list();
		expect(list.data.some((m) => m.id === model)).toBe(true);
		const one = await openai.models.retrieve(model);
		expect(one.id).toBe(model);
	});

	it("maps gateway errors to the client's typed errors", async () => {
		const { key } = await newKey({ credit: 0n });
		const model = await newModel();
		const bad = client(`mdx_${"0".repeat(40)}_${"A".repeat(43)}`).openai;
		await expect(bad.chat.completions.create({ model, messages: [{ role: "user", content: "x" }] })).rejects.toBeInstanceOf(
			OpenAI.AuthenticationError,
		);
		const { openai } = client(key);
		await expect(
			openai.chat.completions.create({ model: "nobody/none", messages: [{ role: "user", content: "x" }] }),
		).rejects.toBeInstanceOf(OpenAI.NotFoundError);
		const broke = await openai.chat.completions.create({ model, messages: [{ role: "user", content: "x" }] }).catch((e) => e);
		expect(broke).toBeInstanceOf(OpenAI.APIError);
		expect(broke.status).toBe(402);
		expect(broke.code).toBe("insufficient_quota");
		const invalid = await openai.chat.completions.create({ model, messages: [] }).catch((e) => e);
		expect(invalid).toBeInstanceOf(OpenAI.BadRequestError);
		expect(invalid.param).toBe("messages");
	});
});
