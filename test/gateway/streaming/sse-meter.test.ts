import { describe, expect, it } from "vitest";
import {
	ChunkInspector,
	MAX_KEPT_CHARS,
	meterSseStream,
	type StreamMeterOptions,
} from "../../../workers/gateway/streaming/sse-meter.ts";
import { tokenCounter } from "../../../workers/gateway/streaming/tokens.ts";

// The tokenizer loads on first use; the expectations count synchronously.
const countTokens = await tokenCounter();

// Hand-built upstreams: exact bytes, adversarial chunking, and failures on cue.

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const PROMPT = "Say something in three languages.";

type Piece = string | Uint8Array;
const bytes = (piece: Piece) => (typeof piece === "string" ? encoder.encode(piece) : piece);

/** An upstream body that yields the generator's pieces one read at a time, and notes its cancellation. */
function upstreamFrom(generate: () => AsyncGenerator<Piece>) {
	const iterator = generate();
	const state = { cancelled: false, reads: 0 };
	const stream = new ReadableStream<Uint8Array>(
		{
			async pull(controller) {
				const next = await iterator.next();
				if (next.done) controller.close();
				else {
					state.reads++;
					controller.enqueue(bytes(next.value));
				}
			},
			async cancel() {
				state.cancelled = true;
				await iterator.return(undefined);
			},
		},
		{ highWaterMark: 0 },
	);
	return { stream, state };
}

function upstreamOf(pieces: Piece[]) {
	return upstreamFrom(async function* () {
		yield* pieces;
	}).stream;
}

function everyByte(text: string): Uint8Array[] {
	return [...encoder.encode(text)].map((b) => Uint8Array.of(b));
}

/** Chunks of 1, 2, 3, … 7 bytes, so boundaries fall inside multi-byte characters and "data:". */
function raggedChunks(text: string): Uint8Array[] {
	const all = encoder.encode(text);
	const chunks: Uint8Array[] = [];
	for (let offset = 0, size = 1; offset < all.length; offset += size, size = (size % 7) + 1) {
		chunks.push(all.slice(offset, offset + size));
	}
	return chunks;
}

function meter(upstream: ReadableStream<Uint8Array>, options: Partial<StreamMeterOptions> = {}) {
	let aborts = 0;
	const metered = meterSseStream(upstream, {
		kind: "chat",
		clientWantsUsage: false,
		promptText: PROMPT,
		abortUpstream: () => {
			aborts++;
		},
		...options,
	});
	return { ...metered, aborts: () => aborts };
}

async function readAll(body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
	const chunks: Uint8Array[] = [];
	const reader = body.getReader();
	for (;;) {
		const { done, value } = await reader.read();
		if (done) break;
		chunks.push(value);
	}
	const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
	let offset = 0;
	for (const c of chunks) {
		all.set(c, offset);
		offset += c.length;
	}
	return all;
}

const readText = async (body: ReadableStream<Uint8Array>) => decoder.decode(await readAll(body));

/** The JSON payloads a client's SSE parser would see (LF-separated streams only). */
function payloads(sse: string): unknown[] {
	return sse
		.split("\n\n")
		.map((event) =>
			event
				.split("\n")
				.filter((line) => line.startsWith("data: "))
				.map((line) => line.slice(6))
				.join("\n"),
		)
		.filter((data) => data && data !== "[DONE]")
		.map((data) => JSON.parse(data));
}

function contentOf(sse: string): string {
	return (payloads(sse) as Array<{ choices?: Array<{ delta?: { content?: string } }> }>)
		.map((p) => p.choices?.[0]?.delta?.content ?? "")
		.join("");
}

const event = (payload: unknown) => `data: ${JSON.stringify(payload)}\n\n`;
const chat = (content: string | null, finish: string | null = null, extra: Record<string, unknown> = {}) =>
	event({
		id: "chatcmpl-1",
		object: "chat.completion.chunk",
		choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish }],
		...extra,
	});
const usageOnly = (prompt: number, completion: number) =>
	event({
		id: "chatcmpl-1",
		object: "chat.completion.chunk",
		choices: [],
		usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
	});
const DONE = "data: [DONE]\n\n";

const WORDS = ["Hello", " wörld", " — ", "こんにちは", " 世界", " 👋🏽", " ok"];
const UPSTREAM_STREAM =
	WORDS.map((w, i) => chat(w, null, i === 0 ? { usage: null } : {})).join("") + chat(null, "stop") + usageOnly(11, 7) + DONE;

describe("meterSseStream: pass-through", () => {
	it("forwards every byte unchanged and meters the upstream's usage when the client asked for it", async () => {
		const { body, result } = meter(upstreamOf([UPSTREAM_STREAM]), { clientWantsUsage: true });
		expect(await readText(body)).toBe(UPSTREAM_STREAM);
		expect(await result).toEqual({
			promptTokens: 11,
			completionTokens: 7,
			usageSource: "upstream",
			outcome: "completed",
			finishReason: "stop",
		});
	});

	it.each([
		["one chunk", (s: string) => [encoder.encode(s)]],
		["one byte per chunk", everyByte],
		["ragged chunks that split multi-byte characters", raggedChunks],
	])("forwards the same bytes and the same counts when the upstream arrives in %s", async (_, chunking) => {
		const stream = WORDS.map((w) => chat(w)).join("") + chat(null, "stop") + DONE;
		const { body, result } = meter(upstreamOf(chunking(stream)));
		expect(decoder.decode(await readAll(body))).toBe(stream);
		expect(await result).toEqual({
			promptTokens: countTokens(PROMPT),
			completionTokens: countTokens(WORDS.join("")),
			usageSource: "counted",
			outcome: "completed",
			finishReason: "stop",
		});
	});

	it.each([
		["CRLF", "\r\n"],
		["CR", "\r"],
		["LF", "\n"],
	])("reads %s line endings, comments and multi-line data, forwarding them as sent", async (_, eol) => {
		const multiLine = `data: {"id":"c","choices":[{"index":0,${eol}data: "delta":{"content":"two-line é"},"finish_reason":null}]}${eol}${eol}`;
		const stream =
			`: keep-alive${eol}${eol}` +
			`event: message${eol}data: {"id":"c","choices":[{"index":0,"delta":{"content":"Bonjour"},"finish_reason":null}]}${eol}${eol}` +
			multiLine +
			`:${eol}${eol}` +
			`data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}${eol}${eol}` +
			`data: [DONE]${eol}${eol}`;
		for (const chunks of [[encoder.encode(stream)], everyByte(stream), raggedChunks(stream)]) {
			const { body, result } = meter(upstreamOf(chunks));
			expect(await readText(body)).toBe(stream);
			expect(await result).toMatchObject({
				completionTokens: countTokens("Bonjourtwo-line é"),
				outcome: "completed",
				finishReason: "length",
			});
		}
	});

	it("frames LF-only and CRLF events alike when they alternate and chunks split them anywhere", async () => {
		const stream =
			// One-byte lines (":" comments) too: the shortest line that is not the blank line.
			WORDS.map((w, i) => (i % 2 ? chat(w).replace(/\n/g, "\r\n") : `:\n${chat(w)}`)).join("") +
			chat(null, "stop").replace(/\n/g, "\r\n") +
			DONE;
		for (const chunks of [raggedChunks(stream), everyByte(stream), [encoder.encode(stream)]]) {
			const { body, result } = meter(upstreamOf(chunks));
			expect(decoder.decode(await readAll(body))).toBe(stream);
			expect(await result).toMatchObject({ completionTokens: countTokens(WORDS.join("")), outcome: "completed" });
		}
	});

	it("streams through a Response the runtime reads, as the gateway returns it", async () => {
		const { body, result } = meter(upstreamOf(raggedChunks(UPSTREAM_STREAM)), { clientWantsUsage: false });
		const response = new Response(body, { headers: { "content-type": "text/event-stream" } });
		expect(await response.text()).toBe(UPSTREAM_STREAM.replace(usageOnly(11, 7), ""));
		expect(await result).toMatchObject({ promptTokens: 11, completionTokens: 7, outcome: "completed" });
	});

	it("hands each event to the client before the upstream sends the next", async () => {
		let release: () => void = () => {};
		const gate = new Promise<void>((resolve) => {
			release = resolve;
		});
		const first = chat("first");
		const second = chat("second");
		const { stream } = upstreamFrom(async function* () {
			// The first event arrives in two pieces; the second waits for the gate.
			yield first.slice(0, 9);
			yield first.slice(9);
			await gate;
			yield second + DONE;
		});
		const { body, result } = meter(stream);
		const reader = body.getReader();

		const firstRead = await reader.read();
		expect(decoder.decode(firstRead.value)).toBe(first);

		release();
		let rest = "";
		for (let read = await reader.read(); !read.done; read = await reader.read()) rest += decoder.decode(read.value);
		expect(rest).toBe(second + DONE);
		expect((await result).outcome).toBe("completed");
	});

	it("keeps a large event intact and linear in time when it arrives in many small chunks", async () => {
		const content = "token ".repeat(400_000); // 2.4 MB in one event
		const stream = chat(content) + DONE;
		const all = encoder.encode(stream);
		const chunks: Uint8Array[] = [];
		for (let i = 0; i < all.length; i += 1024) chunks.push(all.subarray(i, i + 1024));
		const started = Date.now();
		const { body, result } = meter(upstreamOf(chunks), { promptText: "" });
		const out = await readAll(body);
		expect(out.length).toBe(all.length);
		expect(decoder.decode(out)).toBe(stream);
		expect((await result).completionTokens).toBe(countTokens(content));
		// Re-copying the buffer per chunk would move ~3 GB here; linear work takes well under a second.
		expect(Date.now() - started).toBeLessThan(5_000);
	});
});

describe("meterSseStream: usage the gateway asked for", () => {
	it("drops the usage-only chunk when the client did not ask for usage, and still meters its numbers", async () => {
		for (const chunks of [[encoder.encode(UPSTREAM_STREAM)], everyByte(UPSTREAM_STREAM)]) {
			const { body, result } = meter(upstreamOf(chunks), { clientWantsUsage: false });
			const forwarded = await readText(body);
			expect(forwarded).toBe(UPSTREAM_STREAM.replace(usageOnly(11, 7), ""));
			expect(forwarded).not.toContain("prompt_tokens");
			expect(await result).toMatchObject({ promptTokens: 11, completionTokens: 7, usageSource: "upstream" });
		}
	});

	it("removes usage from a content chunk that carries it when the client did not ask for usage", async () => {
		const usage = { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 };
		const last = { id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] };
		const stream = chat("Hi") + chat(" there") + event({ ...last, usage }) + DONE;

		const stripped = meter(upstreamOf([stream]), { clientWantsUsage: false });
		const forwarded = await readText(stripped.body);
		expect(payloads(forwarded)).toEqual([...payloads(chat("Hi") + chat(" there")), last]);
		expect(forwarded.endsWith(DONE)).toBe(true);
		expect(await stripped.result).toMatchObject({ promptTokens: 4, completionTokens: 2, usageSource: "upstream" });

		const kept = meter(upstreamOf([stream]), { clientWantsUsage: true });
		expect(await readText(kept.body)).toBe(stream);
		expect(await kept.result).toMatchObject({ promptTokens: 4, completionTokens: 2, usageSource: "upstream" });
	});
});

describe("meterSseStream: usage the client asked for and the upstream did not send", () => {
	const counted = (prompt: string, completion: string) => ({
		prompt_tokens: countTokens(prompt),
		completion_tokens: countTokens(completion),
		total_tokens: countTokens(prompt) + countTokens(completion),
	});

	it.each([
		["with [DONE]", DONE],
		["ending cleanly after its finish_reason without [DONE]", ""],
	])("ends a stream %s with a usage chunk of the counted tokens, then [DONE]", async (_, end) => {
		const stream = chat("Red", null, { created: 7, model: "m" }) + chat(" apples", "stop") + end;
		const { body, result } = meter(upstreamOf(raggedChunks(stream)), { clientWantsUsage: true });
		const text = await readText(body);
		expect(text.endsWith(DONE)).toBe(true);
		expect(text.slice(0, -DONE.length)).toBe(
			chat("Red", null, { created: 7, model: "m" }) +
				chat(" apples", "stop") +
				event({
					id: "chatcmpl-1",
					created: 7,
					model: "m",
					object: "chat.completion.chunk",
					choices: [],
					usage: counted(PROMPT, "Red apples"),
				}),
		);
		expect(await result).toMatchObject({ usageSource: "counted", outcome: "completed" });
	});

	it("adds no usage chunk to a stream that failed, and still forwards its [DONE]", async () => {
		const stream = `${chat("Red")}error: {"message":"model crashed"}\n\n${DONE}`;
		const { body, result } = meter(upstreamOf([stream]), { clientWantsUsage: true });
		const text = await readText(body);
		expect(text.endsWith(DONE)).toBe(true);
		expect(payloads(text).some((p) => (p as { usage?: unknown }).usage)).toBe(false);
		expect(await result).toMatchObject({ outcome: "upstream_failed" });
	});
});

describe("meterSseStream: counting when the upstream reports no usage", () => {
	it("counts chat content, reasoning, refusals and tool-call text the client received", async () => {
		const delta = (d: Record<string, unknown>, finish: string | null = null) =>
			event({ id: "c", choices: [{ index: 0, delta: d, finish_reason: finish }] });
		const stream =
			delta({ role: "assistant", reasoning_content: "Let me think" }) +
			delta({ reasoning_content: " about the weather." }) +
			delta({ content: "Checking." }) +
			delta({ tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "get_weather", arguments: "" } }] }) +
			delta({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }) +
			delta({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }, "tool_calls") +
			DONE;
		const { body, result } = meter(upstreamOf(everyByte(stream)), { clientWantsUsage: false });
		expect(await readText(body)).toBe(stream);
		expect(await result).toEqual({
			promptTokens: countTokens(PROMPT),
			completionTokens:
				countTokens("Let me think about the weather.") +
				countTokens("Checking.") +
				countTokens("get_weather") +
				countTokens('{"city":"Paris"}'),
			usageSource: "counted",
			outcome: "completed",
			finishReason: "tool_calls",
		});
	});

	it("counts each choice's text separately when the upstream streams several choices", async () => {
		const choice = (index: number, content: string) =>
			event({ id: "c", choices: [{ index, delta: { content }, finish_reason: null }] });
		const stream = choice(0, "Red") + choice(1, "Blue") + choice(0, " apples") + choice(1, " skies") + DONE;
		const { body, result } = meter(upstreamOf([stream]));
		await readAll(body);
		expect((await result).completionTokens).toBe(countTokens("Red apples") + countTokens("Blue skies"));
	});

	it("counts choices[].text for the completions endpoint", async () => {
		const text = (t: string, finish: string | null = null) =>
			event({ id: "cmpl-1", object: "text_completion", choices: [{ index: 0, text: t, finish_reason: finish }] });
		const stream = text("Once upon") + text(" a time") + text("", "length") + DONE;
		const { body, result } = meter(upstreamOf(raggedChunks(stream)), { kind: "completion", promptText: "Tell a story" });
		expect(await readText(body)).toBe(stream);
		expect(await result).toEqual({
			promptTokens: countTokens("Tell a story"),
			completionTokens: countTokens("Once upon a time"),
			usageSource: "counted",
			outcome: "completed",
			finishReason: "length",
		});
	});
});

describe("meterSseStream: long streams without usage", () => {
	// ~100 characters of JSON per event around a few of text: 6,000 events are ~600k characters.
	const words = Array.from({ length: 6_000 }, (_, i) => ` w${i % 97}`);

	it("holds a bounded amount of chunk text however long the stream, and still counts every delivered token", async () => {
		const inspector = new ChunkInspector("chat", false);
		let most = 0;
		for (const word of words) {
			inspector.inspect(encoder.encode(chat(word)));
			inspector.deliveredUpTo(inspector.inspected());
			most = Math.max(most, inspector.keptChars());
		}
		expect(most).toBeGreaterThan(MAX_KEPT_CHARS / 2);
		expect(most).toBeLessThanOrEqual(MAX_KEPT_CHARS + chat(" w96").length);
		expect(await inspector.tally("completed", PROMPT)).toMatchObject({
			completionTokens: countTokens(words.join("")),
			usageSource: "counted",
		});
	});

	it("charges what was delivered when the client leaves after the kept text was parsed and dropped", async () => {
		const upstream = upstreamFrom(async function* () {
			for (const word of words) yield chat(word);
			for (;;) yield chat(" more");
		});
		const { body, result } = meter(upstream.stream);
		const reader = body.getReader();
		let delivered = "";
		// Events are whole in each chunk the meter writes: count them as they come.
		for (let events = 0; events < words.length; ) {
			const text = decoder.decode((await reader.read()).value);
			events += text.split("\n\n").length - 1;
			delivered += text;
		}
		await reader.cancel("client went away");
		expect((await result).outcome).toBe("client_disconnected");
		expect((await result).completionTokens).toBe(countTokens(contentOf(delivered)));
		expect(contentOf(delivered).startsWith(words.join(""))).toBe(true);
	});
});

describe("meterSseStream: the client disconnects", () => {
	/** An upstream that would talk forever: one word per read. */
	function endlessUpstream() {
		return upstreamFrom(async function* () {
			for (let i = 0; ; i++) yield chat(i === 0 ? "Once" : ` word${i}`);
		});
	}

	it("charges only for tokens delivered before the client disconnected", async () => {
		const upstream = endlessUpstream();
		const { body, result, aborts } = meter(upstream.stream);
		const reader = body.getReader();
		let delivered = "";
		while (payloads(delivered).length < 2) {
			const read = await reader.read();
			delivered += decoder.decode(read.value);
		}
		// A slow client: anything the meter read ahead meanwhile was not delivered.
		await new Promise((resolve) => setTimeout(resolve, 20));
		await reader.cancel("client went away");
		// The meter learns of the disconnect from its next write, a moment later.
		await result;
		expect(aborts()).toBe(1);
		expect(contentOf(delivered)).toBe("Once word1");
		expect(await result).toEqual({
			promptTokens: countTokens(PROMPT),
			completionTokens: countTokens("Once word1"),
			usageSource: "counted",
			outcome: "client_disconnected",
			finishReason: null,
		});
		// The upstream is no longer read.
		expect(upstream.state.cancelled).toBe(true);
		const readsAtCancel = upstream.state.reads;
		await new Promise((resolve) => setTimeout(resolve, 20));
		expect(upstream.state.reads).toBe(readsAtCancel);
	});

	it("takes prompt tokens from upstream usage that arrived before the disconnect, and counts completion", async () => {
		// Some servers report running usage on every chunk.
		const { stream } = upstreamFrom(async function* () {
			for (let i = 1; ; i++) {
				yield chat(` w${i}`, null, { usage: { prompt_tokens: 42, completion_tokens: i * 100, total_tokens: 42 + i * 100 } });
			}
		});
		const { body, result, aborts } = meter(stream);
		const reader = body.getReader();
		const delivered = decoder.decode((await reader.read()).value);
		await new Promise((resolve) => setTimeout(resolve, 20));
		await reader.cancel();
		await result;
		expect(aborts()).toBe(1);
		expect(await result).toMatchObject({
			promptTokens: 42,
			completionTokens: countTokens(contentOf(delivered)),
			usageSource: "counted",
			outcome: "client_disconnected",
		});
	});

	it("does not abort the upstream when the client cancels after the stream completed", async () => {
		const { body, result, aborts } = meter(upstreamOf([chat("done"), DONE]));
		const reader = body.getReader();
		while (!(await reader.read()).done) {
			// drain
		}
		await reader.cancel();
		expect(aborts()).toBe(0);
		expect((await result).outcome).toBe("completed");
	});

	it("resolves its result even when abortUpstream throws", async () => {
		const { body, result } = meter(endlessUpstream().stream, {
			abortUpstream: () => {
				throw new Error("abort failed");
			},
		});
		const reader = body.getReader();
		await reader.read();
		await reader.cancel();
		expect((await result).outcome).toBe("client_disconnected");
	});
});

describe("meterSseStream: the upstream fails mid-stream", () => {
	const errorEvent = (sse: string) => payloads(sse).at(-1);
	const UPSTREAM_ERROR = {
		error: { message: expect.any(String), type: "api_error", code: "upstream_error", param: null },
	};

	it("ends with one OpenAI error event and charges what was delivered when the connection breaks", async () => {
		const { stream } = upstreamFrom(async function* () {
			yield chat("Partial");
			yield chat(" answer");
			yield 'data: {"id":"c","choices":[{"index":0,"delta":{"content":" never seen"'; // cut mid-event
			throw new Error("connection reset");
		});
		const { body, result } = meter(stream, { clientWantsUsage: false });
		// The body closes normally: reading it to the end does not throw.
		const forwarded = await readText(body);
		expect(forwarded.startsWith(chat("Partial") + chat(" answer"))).toBe(true);
		expect(forwarded).not.toContain("never seen");
		expect(errorEvent(forwarded)).toEqual(UPSTREAM_ERROR);
		expect(forwarded.match(/"error"/g)).toHaveLength(1);
		expect(await result).toEqual({
			promptTokens: countTokens(PROMPT),
			completionTokens: countTokens("Partial answer"),
			usageSource: "counted",
			outcome: "upstream_failed",
			finishReason: null,
		});
	});

	it("treats a stream that ends without [DONE] as failed and never charges reported tokens beyond delivery", async () => {
		// The usage claims far more than the client received.
		const stream = chat("Just this") + usageOnly(9, 500);
		const { body, result } = meter(upstreamOf(everyByte(stream)), { clientWantsUsage: false });
		const forwarded = await readText(body);
		expect(contentOf(forwarded)).toBe("Just this");
		expect(errorEvent(forwarded)).toEqual(UPSTREAM_ERROR);
		expect(await result).toEqual({
			promptTokens: 9,
			completionTokens: countTokens("Just this"),
			usageSource: "counted",
			outcome: "upstream_failed",
			finishReason: null,
		});
	});

	it("completes a stream that ends cleanly after its finish_reason without [DONE], adding [DONE] for the client", async () => {
		// TGI before 2.1.1 and some llama.cpp builds end a complete answer like this.
		const stream = chat("All") + chat(" there", "stop") + usageOnly(9, 2);
		const { body, result } = meter(upstreamOf(everyByte(stream)), { clientWantsUsage: false });
		const forwarded = await readText(body);
		expect(forwarded).toBe(`${chat("All") + chat(" there", "stop")}${DONE}`);
		expect(await result).toEqual({
			promptTokens: 9,
			completionTokens: 2,
			usageSource: "upstream",
			outcome: "completed",
			finishReason: "stop",
		});
	});

	it("still fails a stream cut off inside an event after its finish_reason", async () => {
		const stream = `${chat("All", "stop")}data: {"id":"c","choices":[],"usage":{"prompt_tokens":9`;
		const { body, result } = meter(upstreamOf([stream]));
		expect(payloads(await readText(body)).at(-1)).toEqual(UPSTREAM_ERROR);
		expect(await result).toMatchObject({ outcome: "upstream_failed", usageSource: "counted" });
	});

	it.each([
		[
			"an error: field (llama.cpp's server before late 2025)",
			'error: {"code":400,"message":"the request exceeds the available context size","type":"invalid_request_error"}\n\n',
			"the request exceeds the available context size",
			"invalid_request_error",
		],
		["an event: error with a plain message", "event: error\ndata: model crashed\n\n", "model crashed", "api_error"],
	])("turns %s into an OpenAI error event the SDKs raise, and charges no completion", async (_name, raw, message, type) => {
		const stream = raw + DONE;
		const { body, result } = meter(upstreamOf([stream]), { clientWantsUsage: false });
		expect(payloads(await readText(body))).toEqual([{ error: { message, type, code: "upstream_error", param: null } }]);
		expect(await result).toMatchObject({ completionTokens: 0, outcome: "upstream_failed" });
	});

	it("charges no completion tokens when the upstream fails before sending anything", async () => {
		const { stream } = upstreamFrom(async function* () {
			yield* [];
			throw new Error("refused");
		});
		const { body, result } = meter(stream);
		const forwarded = await readText(body);
		expect(payloads(forwarded)).toEqual([UPSTREAM_ERROR]);
		expect(await result).toMatchObject({ completionTokens: 0, promptTokens: countTokens(PROMPT), outcome: "upstream_failed" });
	});

	it("gives up on an event that never ends instead of buffering it without limit", async () => {
		const upstream = upstreamFrom(async function* () {
			yield chat("Before");
			yield 'data: {"choices":[{"index":0,"delta":{"content":"';
			const filler = new Uint8Array(1024 * 1024).fill(0x61);
			for (;;) yield filler; // past the 16 MiB per-event cap, and on forever
		});
		const { body, result } = meter(upstream.stream);
		const forwarded = await readText(body);
		expect(forwarded.startsWith(chat("Before"))).toBe(true);
		expect(errorEvent(forwarded)).toEqual(UPSTREAM_ERROR);
		expect(forwarded.length).toBeLessThan(1024);
		expect(await result).toMatchObject({ completionTokens: countTokens("Before"), outcome: "upstream_failed" });
		expect(upstream.state.cancelled).toBe(true);
		expect(upstream.state.reads).toBeLessThan(20);
	});

	it("forwards the upstream's own error event without adding a second one", async () => {
		const upstreamError = event({ error: { message: "overloaded", type: "server_error", code: null, param: null } });
		const stream = chat("Par") + upstreamError;
		const { body, result } = meter(upstreamOf([stream]));
		expect(await readText(body)).toBe(stream);
		expect(await result).toMatchObject({ completionTokens: countTokens("Par"), outcome: "upstream_failed" });
	});

	it.each([
		["data: [DONE]", "\n\n"],
		["data: [DONE]\n", "\n"],
		["data: [DONE]\r\n", "\n"],
		["data: [DONE]\r", "\n\n"],
	])("accepts a final %j that lacks its blank line, completing it for the client", async (last, completion) => {
		const stream = chat("Fine") + last;
		const { body, result } = meter(upstreamOf(everyByte(stream)));
		expect(await readText(body)).toBe(stream + completion);
		expect((await result).outcome).toBe("completed");
	});

	it("drops a cut-off last event instead of forwarding half of it", async () => {
		const stream = `${chat("Fine")}data: {"id":"c","choices":[{"index":0,"delta":{"content":"cut`;
		const { body, result } = meter(upstreamOf([stream]));
		const forwarded = await readText(body);
		expect(forwarded).not.toContain("cut");
		expect(await result).toMatchObject({ completionTokens: countTokens("Fine"), outcome: "upstream_failed" });
	});
});
