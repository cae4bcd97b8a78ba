// A pass-through meter for OpenAI-format server-sent events: the client gets each event
// as soon as its blank line arrives, byte for byte, while the meter notes what it
// delivered, so the request is charged for what the client received and no more.
//
// Framing works on bytes (line terminators are ASCII, so they never occur inside a
// multi-byte UTF-8 character); complete events are decoded, and parsed only when they
// may carry usage, an error or a finish reason (or when tokens must be counted). The
// returned stream is the readable side of an IdentityTransformStream, which the runtime
// pumps natively; a write to it completes only once the chunk has been read, so
// "written" means "delivered" when the client goes away, and the upstream is read no
// faster than the client reads.
import type { UsageSource } from "../../../durable-objects/lease-protocol.ts";
import { concat } from "../bytes.ts";
import { ERRORS, type OpenAIErrorBody } from "../errors.ts";
import { countTokens } from "./tokens.ts";

export type EndpointKind = "chat" | "completion";

export interface StreamMeterOptions {
	kind: EndpointKind;
	/** Did the client itself ask for usage (stream_options.include_usage === true)? If not, the usage-only chunk the gateway asked the upstream for is stripped before the client sees it. */
	clientWantsUsage: boolean;
	/** Text of the prompt (messages' contents joined, or the completion prompt), for the counting fallback. */
	promptText: string | (() => string);
	/** Called once when the client goes away (the returned body is cancelled): the caller aborts the upstream fetch with it. */
	abortUpstream: () => void;
}

export interface StreamMeterResult {
	promptTokens: number;
	completionTokens: number;
	/** "upstream" when the upstream's usage chunk was seen (and the stream completed); "counted" when tokens were counted with the tokenizer. */
	usageSource: Exclude<UsageSource, "none">;
	/** How the stream ended. */
	outcome: "completed" | "client_disconnected" | "upstream_failed";
	/** finish_reason of the last choice, if any. */
	finishReason: string | null;
	/** The upstream's own error event said the request was at fault (type invalid_request_error): not the upstream's failure. */
	requestFault?: boolean;
}

type Outcome = StreamMeterResult["outcome"];

/**
 * `upstream` is the upstream's body, or its reader with the first chunk already read
 * (as callUpstreams hands it over: one stream layer less between the two sockets).
 */
export function meterSseStream(
	upstream: ReadableStream<Uint8Array> | { first: Uint8Array | null; reader: ReadableStreamDefaultReader<Uint8Array> },
	options: StreamMeterOptions,
): { body: ReadableStream<Uint8Array>; result: Promise<StreamMeterResult> } {
	const reader = upstream instanceof ReadableStream ? upstream.getReader() : upstream.reader;
	let prefetched: ReadableStreamReadResult<Uint8Array> | null =
		upstream instanceof ReadableStream
			? null
			: upstream.first === null
				? { done: true, value: undefined }
				: { done: false, value: upstream.first };
	const framer = new SseFramer();
	const inspector = new ChunkInspector(options.kind, options.clientWantsUsage);
	let settled = false;
	let resolveResult: (result: StreamMeterResult) => void = () => {};
	const result = new Promise<StreamMeterResult>((resolve) => {
		resolveResult = resolve;
	});

	function settle(outcome: Outcome): void {
		if (settled) return;
		settled = true;
		inspector.tally(outcome, options.promptText).then(resolveResult, () =>
			// Unreachable in practice; the promise must settle all the same.
			resolveResult({ promptTokens: 0, completionTokens: 0, usageSource: "counted", outcome, finishReason: null }),
		);
	}

	/**
	 * The client asked for usage and the upstream sent none: the stream's [DONE] is held back,
	 * and endWith sends it after a usage chunk of the counted tokens, as OpenAI's streams end.
	 */
	let doneHeld = false;

	/** Runs complete events through the inspector; returns the bytes to forward and whether [DONE] was seen. */
	function forward(events: Uint8Array[], out: Uint8Array[]): boolean {
		for (const event of events) {
			const verdict = inspector.inspect(event);
			if (verdict.done && inspector.usageOwed()) {
				doneHeld = true;
				return true;
			}
			if (verdict.forward) out.push(verdict.forward);
			if (verdict.done) return true;
		}
		return false;
	}

	// The client's side is an IdentityTransformStream: the runtime pumps its readable side
	// natively, and a write completes only once the client's side has read the chunk (a
	// disconnect makes it fail), so "written" means "delivered", as the meter needs.
	const pipe = new IdentityTransformStream();
	const writer = pipe.writable.getWriter();
	let clientGone = false;

	function clientLeft(): void {
		if (settled || clientGone) return;
		clientGone = true;
		settle("client_disconnected");
		try {
			options.abortUpstream();
		} catch {
			// The caller's abort failing changes nothing about what was delivered.
		}
		reader.cancel().catch(() => {});
	}
	writer.closed.catch(clientLeft);

	/** Writes bytes to the client; false when the client has gone (nothing more is delivered). */
	async function deliver(bytes: Uint8Array): Promise<boolean> {
		const mark = inspector.inspected();
		try {
			await writer.write(bytes);
		} catch {
			clientLeft();
			return false;
		}
		inspector.deliveredUpTo(mark);
		return true;
	}

	async function endWith(out: Uint8Array[], outcome: Outcome): Promise<void> {
		// A failed stream ends with one error event the OpenAI SDKs surface as an APIError,
		// unless the upstream already said so in its own words.
		if (outcome === "upstream_failed" && !inspector.upstreamSentError) out.push(UPSTREAM_FAILED_EVENT.slice());
		if (out.length > 0 && !(await deliver(concat(out)))) return;
		settle(outcome);
		// The stream ends once its charge is known (the caller's handlers of `result` run first),
		// so GET /v1/generations/{id} has it by then, even while the tokenizer first loads.
		const charged = await result;
		if (doneHeld) {
			const tail = outcome === "completed" ? [inspector.usageChunk(charged), DONE_EVENT.slice()] : [DONE_EVENT.slice()];
			if (!(await deliver(concat(tail)))) return;
		}
		await writer.close().catch(() => {});
	}

	async function pump(): Promise<void> {
		while (!settled) {
			let read: ReadableStreamReadResult<Uint8Array>;
			try {
				if (prefetched) {
					read = prefetched;
					prefetched = null;
				} else read = await reader.read();
			} catch {
				if (!settled) await endWith([], "upstream_failed");
				return;
			}
			// The client may have gone away while we waited.
			if (settled) return;
			const out: Uint8Array[] = [];
			if (read.done) {
				// An incomplete event at the end is dropped, except a well-formed
				// last event whose blank line never came.
				const leftover = framer.pendingBytes;
				const last = framer.end();
				const done = forward(last, out);
				const cutOff = leftover > 0 && last.length === 0;
				// Some servers (TGI before 2.1.1, some llama.cpp builds) end a complete answer
				// without [DONE]: a clean end after a finish_reason is complete, and the client
				// gets the [DONE] it expects.
				const finished = !done && !cutOff && inspector.sawFinish();
				if (finished && inspector.usageOwed()) doneHeld = true;
				else if (finished) out.push(DONE_EVENT.slice());
				await endWith(out, (done || finished) && !inspector.upstreamSentError ? "completed" : "upstream_failed");
				return;
			}
			if (forward(framer.push(read.value), out)) {
				reader.cancel().catch(() => {});
				await endWith(out, inspector.upstreamSentError ? "upstream_failed" : "completed");
				return;
			}
			if (framer.pendingBytes > MAX_EVENT_BYTES) {
				// An upstream that never ends its event would otherwise grow memory until the isolate dies.
				reader.cancel().catch(() => {});
				await endWith(out, "upstream_failed");
				return;
			}
			if (out.length === 0) continue;
			// deliver(), inlined: this runs once per upstream chunk, and an async call is a promise more.
			const mark = inspector.inspected();
			try {
				await writer.write(concat(out));
			} catch {
				clientLeft();
				return;
			}
			inspector.deliveredUpTo(mark);
		}
	}

	pump().catch(async () => {
		// A bug here must not leave the client hanging or the request unmetered.
		if (settled) return;
		try {
			await endWith([], "upstream_failed");
		} catch {
			settle("upstream_failed");
		}
		await writer.abort().catch(() => {});
	});

	const body = pipe.readable;
	return { body, result };
}

const encoder = new TextEncoder();

// Copied on use: an enqueued chunk belongs to whoever reads it.
const DONE_EVENT = encoder.encode("data: [DONE]\n\n");
const UPSTREAM_FAILED_EVENT = encoder.encode(
	`data: ${JSON.stringify({
		error: {
			message: "The upstream stopped before the response was complete.",
			type: ERRORS.upstream_error.type,
			code: "upstream_error",
			param: null,
		},
	} satisfies OpenAIErrorBody)}\n\n`,
);

// ---------------------------------------------------------------------------
// Framing: split bytes into events at blank lines (CRLF, LF or CR line ends).

/** Far above any real event (a chunk is one token or one tool-call fragment); bounds memory per stream. */
const MAX_EVENT_BYTES = 16 * 1024 * 1024;
const LF = 0x0a;
const CR = 0x0d;

class SseFramer {
	/** Bytes of the current, unfinished event from earlier chunks. */
	private parts: Uint8Array[] = [];
	/** Length of `parts`. */
	pendingBytes = 0;
	/** No bytes on the current line yet, so a line terminator now ends the event. */
	private lineEmpty = true;
	/** The last byte was a CR ending a line; an LF right after it belongs to it. */
	private afterCR = false;
	/** A CR ended the event; it ends after the next byte if that is LF, else before it. */
	private endAfterCR = false;

	push(chunk: Uint8Array): Uint8Array[] {
		// Most upstreams end lines with LF only: then only the LFs need looking at, and
		// the runtime's indexOf finds them without a JavaScript loop over every byte.
		if (!this.afterCR && !this.endAfterCR && chunk.indexOf(CR) === -1) return this.pushLf(chunk);
		const events: Uint8Array[] = [];
		let start = 0;
		for (let i = 0; i < chunk.length; i++) {
			const byte = chunk[i];
			if (this.endAfterCR) {
				this.endAfterCR = false;
				const end = byte === LF ? i + 1 : i;
				events.push(this.take(chunk, start, end));
				start = end;
				if (byte === LF) continue;
			}
			if (byte === LF) {
				if (this.afterCR) {
					this.afterCR = false;
				} else if (this.lineEmpty) {
					events.push(this.take(chunk, start, i + 1));
					start = i + 1;
				}
				this.lineEmpty = true;
			} else if (byte === CR) {
				if (this.lineEmpty) {
					this.endAfterCR = true;
					this.afterCR = false;
				} else {
					this.afterCR = true;
				}
				this.lineEmpty = true;
			} else {
				this.afterCR = false;
				this.lineEmpty = false;
			}
		}
		if (start < chunk.length) {
			this.parts.push(chunk.subarray(start));
			this.pendingBytes += chunk.length - start;
		}
		return events;
	}

	/** `push` for a chunk without CR bytes, framer not inside a CR line end: same events, same state after. */
	private pushLf(chunk: Uint8Array): Uint8Array[] {
		const events: Uint8Array[] = [];
		let start = 0;
		let pos = 0;
		let lineEmpty = this.lineEmpty;
		for (;;) {
			const i = chunk.indexOf(LF, pos);
			if (i === -1) {
				if (pos < chunk.length) lineEmpty = false;
				break;
			}
			// Bytes before this LF on its line: it ends a line; none: it is the blank line ending an event.
			if (i > pos) lineEmpty = false;
			if (lineEmpty) {
				events.push(this.take(chunk, start, i + 1));
				start = i + 1;
			}
			lineEmpty = true;
			pos = i + 1;
		}
		this.lineEmpty = lineEmpty;
		if (start < chunk.length) {
			this.parts.push(chunk.subarray(start));
			this.pendingBytes += chunk.length - start;
		}
		return events;
	}

	/** The events left at the end of the stream: one ended by a CR, or a last event missing its blank line. */
	end(): Uint8Array[] {
		if (this.parts.length === 0) return [];
		const rest = concat(this.parts);
		this.parts = [];
		this.pendingBytes = 0;
		if (this.endAfterCR) return [rest];
		// Forwarded only if it parses as a whole event, so give it the blank line it lacked.
		// After a bare CR, an LF alone would only turn it into CRLF, not a blank line.
		const ending = this.lineEmpty && !this.afterCR ? LINE_END : BLANK_LINE;
		return isCompleteData(rest) ? [concat([rest, ending])] : [];
	}

	private take(chunk: Uint8Array, start: number, end: number): Uint8Array {
		const tail = chunk.subarray(start, end);
		if (this.parts.length === 0) return tail;
		this.parts.push(tail);
		const event = concat(this.parts);
		this.parts = [];
		this.pendingBytes = 0;
		return event;
	}
}

const LINE_END = encoder.encode("\n");
const BLANK_LINE = encoder.encode("\n\n");

function isCompleteData(bytes: Uint8Array): boolean {
	const data = sseData(decoder.decode(bytes));
	if (data === null) return false;
	if (data.trim() === "[DONE]") return true;
	try {
		JSON.parse(data);
		return true;
	} catch {
		return false;
	}
}

// ---------------------------------------------------------------------------
// Inspection: what each event carries (text, usage, finish_reason, [DONE]).

const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/** The event's data lines joined, as an SSE client sees them; null when it has none. */
function sseData(event: string): string | null {
	let data: string | null = null;
	for (const line of event.split(/\r\n|\r|\n/)) {
		if (!line.startsWith("data")) continue;
		let value: string;
		if (line === "data") value = "";
		else if (line[4] === ":") value = line[5] === " " ? line.slice(6) : line.slice(5);
		else continue;
		data = data === null ? value : `${data}\n${value}`;
	}
	return data;
}

/** The event with its data lines replaced by one line of `data`, other fields kept. */
function withData(event: string, data: string): string {
	const lines: string[] = [];
	let written = false;
	for (const line of event.split(/\r\n|\r|\n/)) {
		if (line === "") continue;
		if (line === "data" || line.startsWith("data:")) {
			if (!written) lines.push(`data: ${data}`);
			written = true;
		} else lines.push(line);
	}
	return `${lines.join("\n")}\n\n`;
}

/**
 * An error an upstream sent in a form OpenAI's SDKs ignore, as an OpenAI error body: an
 * `error:` field (llama.cpp's server before late 2025: `error: {"code":400,"message":…}`),
 * or an `event: error` whose data is not already `{"error": …}`. Null for anything else.
 */
function errorOfEvent(event: string, data: string | null): OpenAIErrorBody | null {
	let value: string | null = null;
	let named = false;
	for (const line of event.split(/\r\n|\r|\n/)) {
		if (line.startsWith("error:")) value = line.slice(line[6] === " " ? 7 : 6);
		else if (/^event: ?error$/.test(line)) named = true;
	}
	if (value === null && named) value = data;
	if (value === null) return null;
	let parsed: unknown = value;
	try {
		parsed = JSON.parse(value);
	} catch {
		// Plain text: the message itself.
	}
	if (named && isObject(parsed) && parsed.error !== undefined) return null; // already OpenAI's form
	const fields = isObject(parsed) ? parsed : {};
	const message =
		typeof fields.message === "string"
			? fields.message
			: typeof parsed === "string" && parsed
				? parsed
				: "The upstream reported an error.";
	return {
		error: {
			message,
			type: typeof fields.type === "string" ? fields.type : ERRORS.upstream_error.type,
			code: "upstream_error",
			param: null,
		},
	};
}

interface Usage {
	promptTokens: number;
	completionTokens: number;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

function readUsage(value: unknown): Usage | null {
	if (!isObject(value)) return null;
	const { prompt_tokens: prompt, completion_tokens: completion } = value;
	if (!isTokenCount(prompt) || !isTokenCount(completion)) return null;
	return { promptTokens: prompt, completionTokens: completion };
}

function isTokenCount(value: unknown): value is number {
	return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Anything in an event that needs it parsed as it passes: a usage object (stripped or
 * read; OpenAI and vLLM put `"usage": null` in every chunk once asked for usage, and
 * those need no parse), an error, a finish reason with a value, [DONE]. A false positive only costs a
 * parse; JSON escapes the quotes of such words inside generated text.
 */
const MAY_MATTER = /"usage"\s*:\s*\{|"error"|"finish_reason"\s*:\s*"|\[DONE\]|^error:|^event: ?error/m;
/** An SSE `error:` field or an `event: error` line (errorOfEvent reads them; most events have neither). */
const ERROR_FIELD = /^error:|^event: ?error/m;

/**
 * Chunk texts kept for counting are parsed into their delivered text and dropped once they
 * add up to this many characters: a long generation (every event is ~100-200 bytes of JSON
 * around a few characters of text) would otherwise hold megabytes per stream, and many of
 * them an isolate's 128 MB. Streams shorter than this are never parsed unless counted.
 */
export const MAX_KEPT_CHARS = 256 * 1024;

export class ChunkInspector {
	upstreamSentError = false;
	/** The type of the upstream's error event, if it sent one. */
	upstreamErrorType: string | null = null;
	private upstreamUsage: Usage | null = null;
	/** The id, creation time and model of the upstream's chunks, for a usage chunk of the gateway's own. */
	private chunkMeta: { id?: unknown; created?: unknown; model?: unknown } | null = null;
	private finishReason: string | null = null;
	/** Delivered text per choice and field, counted at the end (BPE counts of pieces don't add up). */
	private readonly delivered = new Map<string, string[]>();
	/** Chunks with choices, in the order inspected, not yet parsed; parsed only if tokens must be counted. */
	private texts: string[] = [];
	/** Characters in `texts`. */
	private textChars = 0;
	/** Chunks inspected before `texts[0]` (delivered, parsed into `delivered` and dropped). */
	private dropped = 0;
	/** How many chunks (counted from the first) the client has received (a completed write carried them). */
	private deliveredTexts = 0;

	constructor(
		private readonly kind: EndpointKind,
		private readonly clientWantsUsage: boolean,
	) {}

	inspect(event: Uint8Array): { forward: Uint8Array | null; done: boolean } {
		const text = decoder.decode(event);
		// A plain content chunk (no usage, error, finish reason or [DONE] anywhere in it) goes
		// out as it is; its text is only needed if the tokens must be counted, so it is parsed
		// then (or before the next chunk that is parsed, to keep the pieces in order).
		if (!MAY_MATTER.test(text)) {
			this.keep(text);
			return { forward: event, done: false };
		}
		const data = sseData(text);
		const fieldError = ERROR_FIELD.test(text) ? errorOfEvent(text, data) : null;
		if (fieldError) {
			// An error the SDKs would not see (a field they ignore): said in OpenAI's words.
			this.upstreamSentError = true;
			this.upstreamErrorType = fieldError.error.type;
			return { forward: encoder.encode(`data: ${JSON.stringify(fieldError)}\n\n`), done: false };
		}
		if (data === null) return { forward: event, done: false };
		if (data.trim() === "[DONE]") return { forward: event, done: true };
		let chunk: unknown;
		try {
			chunk = JSON.parse(data);
		} catch {
			return { forward: event, done: false };
		}
		if (!isObject(chunk)) return { forward: event, done: false };
		if (chunk.error !== undefined && chunk.error !== null) {
			this.upstreamSentError = true;
			const type = isObject(chunk.error) ? chunk.error.type : undefined;
			this.upstreamErrorType = typeof type === "string" ? type : null;
		}

		const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
		for (const choice of choices) {
			if (isObject(choice) && typeof choice.finish_reason === "string") this.finishReason = choice.finish_reason;
		}
		// Its text counts once delivered, like any chunk's.
		if (choices.length > 0) this.keep(text);

		if (!isObject(chunk.usage)) return { forward: event, done: false };
		this.upstreamUsage = readUsage(chunk.usage) ?? this.upstreamUsage;
		if (this.clientWantsUsage) return { forward: event, done: false };
		// The gateway asked for usage on the client's behalf; the client never sees it.
		if (choices.length === 0) return { forward: null, done: false };
		delete chunk.usage;
		return { forward: encoder.encode(withData(text, JSON.stringify(chunk))), done: false };
	}

	/** The client asked for usage and the upstream has sent none so far. */
	usageOwed(): boolean {
		return this.clientWantsUsage && this.upstreamUsage === null;
	}

	/** The usage chunk OpenAI ends a stream with when asked (`choices` empty), with what the request is charged for. */
	usageChunk(result: StreamMeterResult): Uint8Array {
		const { promptTokens, completionTokens } = result;
		const chunk = {
			...this.chunkMeta,
			object: this.kind === "chat" ? "chat.completion.chunk" : "text_completion",
			choices: [],
			usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
		};
		return encoder.encode(`data: ${JSON.stringify(chunk)}\n\n`);
	}

	/**
	 * Each field from the first delivered chunk that has it (upstreams repeat them in every
	 * chunk; a finish chunk may not). Noted as the delivered chunks are parsed for counting,
	 * which a stream whose usage is owed always is (tally), before usageChunk.
	 */
	private noteMeta(chunk: Json): void {
		this.chunkMeta ??= {};
		this.chunkMeta.id ??= chunk.id;
		this.chunkMeta.created ??= chunk.created;
		this.chunkMeta.model ??= chunk.model;
	}

	/** A finish_reason has arrived: the answer is complete, whatever follows. */
	sawFinish(): boolean {
		return this.finishReason !== null;
	}

	/**
	 * What the request is charged for. Everything is read from the inspector at once (the
	 * caller has stopped delivering); only the counting waits, for the tokenizer's first load.
	 */
	async tally(outcome: Outcome, prompt: string | (() => string)): Promise<StreamMeterResult> {
		const { finishReason, upstreamUsage } = this;
		if (outcome === "completed" && upstreamUsage) return { ...upstreamUsage, usageSource: "upstream", outcome, finishReason };
		this.parseDelivered();
		// Without a completed upstream count, the client pays for the text it received.
		const promptText = upstreamUsage ? null : typeof prompt === "string" ? prompt : prompt();
		const texts = [...this.delivered.values()].map((pieces) => pieces.join(""));
		const requestFault = this.upstreamErrorType === "invalid_request_error";
		const [promptTokens, ...completions] = await Promise.all([
			promptText === null ? (upstreamUsage?.promptTokens ?? 0) : countTokens(promptText),
			...texts.map(countTokens),
		]);
		return {
			promptTokens,
			completionTokens: completions.reduce((sum, n) => sum + n, 0),
			usageSource: "counted",
			outcome,
			finishReason,
			...(requestFault && { requestFault }),
		};
	}

	/** A mark for everything inspected so far, taken before the write that carries it. */
	inspected(): number {
		return this.dropped + this.texts.length;
	}

	/** Characters of chunk text held for counting (bounded by MAX_KEPT_CHARS and one write's chunks). */
	keptChars(): number {
		return this.textChars;
	}

	private keep(text: string): void {
		this.texts.push(text);
		this.textChars += text.length;
		if (this.textChars > MAX_KEPT_CHARS) this.parseDelivered();
	}

	/** A write reached the client's side: the texts inspected before its mark count. */
	deliveredUpTo(mark: number): void {
		if (mark > this.deliveredTexts) this.deliveredTexts = mark;
	}

	/** Notes the text of the delivered chunks, in order, and drops them (when tokens must be counted, or too many are kept). */
	private parseDelivered(): void {
		const count = this.deliveredTexts - this.dropped;
		if (count <= 0) return;
		const parsed = this.texts.slice(0, count);
		this.texts = this.texts.slice(count);
		this.dropped += count;
		this.textChars = this.texts.reduce((n, t) => n + t.length, 0);
		for (const text of parsed) {
			const data = sseData(text);
			if (data === null) continue;
			let chunk: unknown;
			try {
				chunk = JSON.parse(data);
			} catch {
				continue;
			}
			if (!isObject(chunk) || !Array.isArray(chunk.choices)) continue;
			this.noteMeta(chunk);
			this.noteChoices(chunk.choices);
		}
	}

	private noteChoices(choices: unknown[]): void {
		for (const [position, choice] of choices.entries()) {
			if (!isObject(choice)) continue;
			const index = typeof choice.index === "number" ? choice.index : position;
			if (typeof choice.finish_reason === "string") this.finishReason = choice.finish_reason;
			if (this.kind === "completion") {
				this.note(`${index}`, choice.text);
				continue;
			}
			const delta = choice.delta;
			if (!isObject(delta)) continue;
			this.note(`${index}:content`, delta.content);
			this.note(`${index}:refusal`, delta.refusal);
			// Some servers send `reasoning`, some `reasoning_content`, some both with the same text.
			this.note(`${index}:reasoning`, typeof delta.reasoning_content === "string" ? delta.reasoning_content : delta.reasoning);
			if (Array.isArray(delta.tool_calls)) {
				for (const [toolPosition, call] of delta.tool_calls.entries()) {
					if (!isObject(call)) continue;
					const toolIndex = typeof call.index === "number" ? call.index : toolPosition;
					this.noteFunction(`${index}:tool:${toolIndex}`, call.function);
				}
			}
			this.noteFunction(`${index}:function_call`, delta.function_call);
		}
	}

	private noteFunction(key: string, fn: unknown): void {
		if (!isObject(fn)) return;
		this.note(`${key}:name`, fn.name);
		this.note(`${key}:arguments`, fn.arguments);
	}

	private note(key: string, text: unknown): void {
		if (typeof text !== "string" || text.length === 0) return;
		const pieces = this.delivered.get(key);
		if (pieces) pieces.push(text);
		else this.delivered.set(key, [text]);
	}
}
