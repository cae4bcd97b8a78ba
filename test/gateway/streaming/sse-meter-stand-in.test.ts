import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { type EndpointKind, meterSseStream } from "../../../workers/gateway/streaming/sse-meter.ts";
import { tokenCounter } from "../../../workers/gateway/streaming/tokens.ts";

// The tokenizer loads on first use; the expectations count synchronously.
const countTokens = await tokenCounter();

// The meter over real HTTP streams from the development stand-in upstream, which
// replies with the words of a fixed sentence, one SSE event per word, and counts
// one token per whitespace-separated word in its usage.

const decoder = new TextDecoder();
const REPLY_WORDS = "This reply comes from the Modeldex development stand-in upstream, not from a model.".split(" ");

async function streamFromStandIn(opts: { model?: string; kind?: EndpointKind; prompt: string; maxTokens?: number }) {
	const kind = opts.kind ?? "chat";
	const controller = new AbortController();
	const request = kind === "chat" ? { messages: [{ role: "user", content: opts.prompt }] } : { prompt: opts.prompt };
	const response = await fetch(`${env.STAND_IN_URL}/${kind === "chat" ? "chat/completions" : "completions"}`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({
			model: opts.model ?? "stand-in",
			...request,
			stream: true,
			stream_options: { include_usage: true },
			max_tokens: opts.maxTokens ?? 8,
		}),
		signal: controller.signal,
	});
	expect(response.status).toBe(200);
	if (!response.body) throw new Error("stand-in sent no body");
	return { body: response.body, controller, kind };
}

function meterStandIn(upstream: Awaited<ReturnType<typeof streamFromStandIn>>, clientWantsUsage: boolean, promptText: string) {
	let aborts = 0;
	const metered = meterSseStream(upstream.body, {
		kind: upstream.kind,
		clientWantsUsage,
		promptText,
		abortUpstream: () => {
			aborts++;
			upstream.controller.abort();
		},
	});
	return { ...metered, aborts: () => aborts };
}

/** Each event's data, as an SSE client would read it (the stand-in uses LF line ends). */
function dataOf(sse: string): string[] {
	return sse
		.split("\n\n")
		.filter(Boolean)
		.map((e) => e.replace(/^data: /, ""));
}

function deliveredText(sse: string): string {
	return dataOf(sse)
		.filter((d) => d !== "[DONE]")
		.map((d) => JSON.parse(d) as { choices?: Array<{ delta?: { content?: string }; text?: string }> })
		.map((chunk) => chunk.choices?.[0]?.delta?.content ?? chunk.choices?.[0]?.text ?? "")
		.join("");
}

async function readText(body: ReadableStream<Uint8Array>): Promise<string> {
	let text = "";
	const reader = body.getReader();
	for (let read = await reader.read(); !read.done; read = await reader.read())
		text += decoder.decode(read.value, { stream: true });
	return text + decoder.decode();
}

describe("meterSseStream over the stand-in upstream", () => {
	it("forwards the stream and meters the upstream's usage chunk when the client asked for usage", async () => {
		const prompt = "please say eight words";
		const { body, result } = meterStandIn(await streamFromStandIn({ prompt }), true, prompt);
		const forwarded = await readText(body);

		const data = dataOf(forwarded);
		expect(data.at(-1)).toBe("[DONE]");
		expect(JSON.parse(data.at(-2) ?? "")).toMatchObject({ choices: [], usage: { prompt_tokens: 4, completion_tokens: 8 } });
		expect(deliveredText(forwarded)).toBe(REPLY_WORDS.slice(0, 8).join(" "));
		expect(await result).toEqual({
			promptTokens: 4,
			completionTokens: 8,
			usageSource: "upstream",
			outcome: "completed",
			finishReason: "stop",
		});
	});

	it("strips the usage chunk the gateway asked for when the client did not, and still meters it", async () => {
		const prompt = "three words here";
		const { body, result } = meterStandIn(await streamFromStandIn({ prompt }), false, prompt);
		const forwarded = await readText(body);

		expect(forwarded).not.toContain("usage");
		expect(dataOf(forwarded)).toHaveLength(8 + 2); // one event per word, the finish event, [DONE]
		expect(deliveredText(forwarded)).toBe(REPLY_WORDS.slice(0, 8).join(" "));
		expect(await result).toMatchObject({ promptTokens: 3, completionTokens: 8, usageSource: "upstream", outcome: "completed" });
	});

	it("counts tokens with the tokenizer when the upstream sends no usage", async () => {
		const prompt = "no usage please";
		const { body, result } = meterStandIn(await streamFromStandIn({ prompt, model: "stand-in:no-usage" }), false, prompt);
		const forwarded = await readText(body);

		expect(dataOf(forwarded).at(-1)).toBe("[DONE]");
		expect(await result).toEqual({
			promptTokens: countTokens(prompt),
			completionTokens: countTokens(REPLY_WORDS.slice(0, 8).join(" ")),
			usageSource: "counted",
			outcome: "completed",
			finishReason: "stop",
		});
	});

	it("counts choices[].text from the completions endpoint when the upstream sends no usage", async () => {
		const prompt = "Once upon a time";
		const upstream = await streamFromStandIn({ prompt, kind: "completion", model: "stand-in:no-usage", maxTokens: 5 });
		const { body, result } = meterStandIn(upstream, false, prompt);
		expect(deliveredText(await readText(body))).toBe(REPLY_WORDS.slice(0, 5).join(" "));
		expect(await result).toMatchObject({
			promptTokens: countTokens(prompt),
			completionTokens: countTokens(REPLY_WORDS.slice(0, 5).join(" ")),
			usageSource: "counted",
			outcome: "completed",
		});
	});

	it("ends with an error event and charges only the delivered words when the upstream dies mid-stream", async () => {
		const prompt = "die early";
		const upstream = await streamFromStandIn({ prompt, model: "stand-in:die-midstream" });
		const { body, result } = meterStandIn(upstream, true, prompt);
		const forwarded = await readText(body);

		const data = dataOf(forwarded);
		expect(JSON.parse(data.at(-1) ?? "")).toEqual({
			error: { message: expect.any(String), type: "api_error", code: "upstream_error", param: null },
		});
		expect(
			deliveredText(
				data
					.slice(0, -1)
					.map((d) => `data: ${d}\n\n`)
					.join(""),
			),
		).toBe("This reply comes");
		expect(await result).toEqual({
			promptTokens: countTokens(prompt),
			completionTokens: countTokens("This reply comes"),
			usageSource: "counted",
			outcome: "upstream_failed",
			finishReason: null,
		});
	});

	it("charges only for tokens delivered before the client disconnected, and aborts the upstream fetch", async () => {
		const prompt = "a long answer please";
		const upstream = await streamFromStandIn({ prompt, maxTokens: 13 });
		const { body, result, aborts } = meterStandIn(upstream, true, prompt);
		const reader = body.getReader();
		let delivered = "";
		while (dataOf(delivered).length < 2) {
			const read = await reader.read();
			delivered += decoder.decode(read.value);
		}
		// Words the stand-in sends meanwhile are not delivered, so not charged.
		await new Promise((resolve) => setTimeout(resolve, 20));
		await reader.cancel();
		// The meter learns of the disconnect from its next write, a moment later.
		await result;
		expect(aborts()).toBe(1);
		expect(upstream.controller.signal.aborted).toBe(true);
		const text = deliveredText(delivered);
		expect(text.length).toBeLessThan(REPLY_WORDS.join(" ").length);
		expect(await result).toEqual({
			promptTokens: countTokens(prompt),
			completionTokens: countTokens(text),
			usageSource: "counted",
			outcome: "client_disconnected",
			finishReason: null,
		});
	});
});
