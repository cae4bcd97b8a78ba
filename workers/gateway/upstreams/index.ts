import type { ModelRecord, UpstreamRecord } from "../../../lib/db/models.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../errors.ts";
import { breakerAllows } from "./breaker.ts";
import { callOpenAICompatible, type UpstreamPath } from "./openai-compatible.ts";
import { callWorkersAI } from "./workers-ai.ts";

export interface UpstreamTimeouts {
	/** A stream's: until the upstream's response headers (covers connecting). */
	headersMs: number;
	/** A stream's: until its first body chunk. */
	firstByteMs: number;
	/**
	 * The whole exchange, body included. A non-stream exchange has only this one: its
	 * upstream (vLLM, TGI, Ollama, llama.cpp, Workers AI) sends headers with the finished answer.
	 */
	totalMs: number;
}

/** A streamed answer: its first chunk, already read (done: null), and the reader for the rest. */
export interface UpstreamStream {
	first: Uint8Array | null;
	reader: ReadableStreamDefaultReader<Uint8Array>;
}

export interface UpstreamCall {
	/** Status and headers; for a stream its body is locked to `stream.reader`. */
	response: Response;
	/** Aborts the exchange (the client went away); a no-op once it has ended. */
	abort(): void;
	/** The exchange ran past its total timeout (a body read that fails after this was cut off by it). */
	timedOut(): boolean;
	stream?: UpstreamStream;
	/** Position of the upstream that answered, for the circuit breaker. */
	position: number;
	/** Upstreams tried before this one, with why they were skipped. */
	failures: Array<{ position: number; reason: string }>;
}

/**
 * Tries the model's upstreams in order. A failure before the first byte (a stream's
 * first chunk, a non-stream answer's headers: network, timeout, 5xx, 429) moves on to
 * the next upstream; once a byte has been accepted there is no retry. A 4xx other than 429 is the request's fault and is
 * answered at once. Upstreams whose breaker is open are tried only when every
 * upstream's is.
 */
export async function callUpstreams(
	env: Env,
	model: ModelRecord,
	path: UpstreamPath,
	body: Record<string, unknown>,
	opts: { stream: boolean; timeouts: UpstreamTimeouts; now?: number },
): Promise<UpstreamCall> {
	const timeouts = opts.timeouts;
	const now = opts.now ?? Date.now();
	if (model.upstreams.length === 0)
		throw new ApiError("upstream_unavailable", `The model '${model.id}' has no upstream configured.`);
	const healthy = model.upstreams.filter((u) => breakerAllows(model.id, u.position, now));
	const order = healthy.length > 0 ? healthy : model.upstreams;
	const failures: UpstreamCall["failures"] = [];
	let lastError: ApiError | null = null;

	for (const upstream of order) {
		const attempt = new AbortController();
		const deadline = new Deadline(attempt, timeouts, opts.stream);
		try {
			const response = await callOne(env, upstream, path, body, attempt.signal);
			if (response.ok) {
				let stream: UpstreamStream | undefined;
				if (opts.stream && response.body) {
					deadline.enter("first-byte");
					stream = await firstChunk(response);
				}
				deadline.enter("body");
				return {
					response,
					stream,
					abort: () => attempt.abort(),
					timedOut: () => attempt.signal.reason instanceof UpstreamTimeout,
					position: upstream.position,
					failures,
				};
			}
			if (response.status >= 500 || response.status === 429) {
				deadline.end();
				lastError = new ApiError("upstream_error", `The model's upstream answered with HTTP ${response.status}.`);
				failures.push({ position: upstream.position, reason: `http ${response.status}` });
				await response.body?.cancel();
				continue;
			}
			deadline.enter("body");
			throw await rejectedByUpstream(response);
		} catch (err) {
			deadline.end();
			if (err instanceof ApiError) throw err;
			const timedOut = attempt.signal.reason instanceof UpstreamTimeout;
			lastError = timedOut
				? new ApiError("upstream_timeout", "The model's upstream did not answer in time.")
				: new ApiError("upstream_error", `The model's upstream could not be reached: ${(err as Error).message}`);
			failures.push({ position: upstream.position, reason: timedOut ? "timeout" : "network" });
		}
	}
	throw Object.assign(lastError ?? new ApiError("upstream_unavailable", "No upstream could serve the request."), { failures });
}

function callOne(
	env: Env,
	upstream: UpstreamRecord,
	path: UpstreamPath,
	body: Record<string, unknown>,
	signal: AbortSignal,
): Promise<Response> {
	if (upstream.kind === "workers-ai") return callWorkersAI(env, upstream, path, body, signal);
	return callOpenAICompatible(env, upstream, path, body, signal);
}

type Phase = "headers" | "first-byte" | "body";

class UpstreamTimeout extends Error {
	constructor(readonly phase: Phase) {
		super(`upstream ${phase} timeout`);
	}
}

/**
 * One attempt's timeouts on one timer: for a stream, until the headers, then until its
 * first chunk, then until the end of the whole exchange (totalMs from the start). A
 * non-stream answer's headers come only once it is generated (they are its first byte),
 * so the total timeout alone bounds it, headers and body. A later
 * deadline does not touch the timer: when it fires early it is armed again for the rest.
 * So a quick exchange costs one setTimeout and no clearTimeout (measured: the three
 * timers and AbortSignal.any this replaces were ~6% of a request's JavaScript time); a
 * timer still pending when the request ends goes with the request.
 */
class Deadline {
	private readonly started = Date.now();
	private phase: Phase = "headers";
	private until: number;
	/** When the pending timer fires, and its handle. */
	private firesAt = 0;
	private timer: ReturnType<typeof setTimeout> | undefined;
	private ended = false;

	constructor(
		private readonly attempt: AbortController,
		private readonly timeouts: UpstreamTimeouts,
		stream: boolean,
	) {
		this.until = this.started + (stream ? Math.min(timeouts.headersMs, timeouts.totalMs) : timeouts.totalMs);
		this.arm(this.started);
	}

	/** The exchange moved on to `phase`: its deadline replaces the one before. */
	enter(phase: Phase): void {
		const now = Date.now();
		const end = this.started + this.timeouts.totalMs;
		this.phase = phase;
		this.until = phase === "first-byte" ? Math.min(now + this.timeouts.firstByteMs, end) : end;
		// Only a deadline earlier than the pending timer needs a new one.
		if (this.until < this.firesAt) {
			clearTimeout(this.timer);
			this.arm(now);
		}
	}

	/** This attempt is over (it failed before a response was taken): no timeout applies any more. */
	end(): void {
		this.ended = true;
	}

	private arm(now: number): void {
		this.firesAt = this.until;
		this.timer = setTimeout(() => this.fire(), Math.max(0, this.until - now));
	}

	private fire(): void {
		if (this.ended || this.attempt.signal.aborted) return;
		const now = Date.now();
		if (now < this.until) this.arm(now);
		else this.attempt.abort(new UpstreamTimeout(this.phase));
	}
}

/** Waits for the stream's first chunk, so a silent upstream can still be replaced. */
async function firstChunk(response: Response): Promise<UpstreamStream> {
	const reader = (response.body as ReadableStream<Uint8Array>).getReader();
	const first = await reader.read();
	return { first: first.done ? null : first.value, reader };
}

/** The upstream refused the request itself (4xx): pass its reason on, in our format. */
async function rejectedByUpstream(response: Response): Promise<ApiError> {
	let message = `The model's upstream rejected the request with HTTP ${response.status}.`;
	try {
		const parsed = (await response.json()) as { error?: { message?: string } | string; message?: string };
		const detail = typeof parsed.error === "string" ? parsed.error : (parsed.error?.message ?? parsed.message);
		if (detail) message = `The model's upstream rejected the request: ${detail}`;
	} catch {
		// not JSON: keep the generic message
	}
	return new ApiError(response.status === 413 ? "request_too_large" : "invalid_request", message);
}
