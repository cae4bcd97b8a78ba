import type { ModelRecord, UpstreamRecord } from "../../../lib/db/models.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../errors.ts";
import { breakerAllows } from "./breaker.ts";
import { UpstreamMisconfigured } from "./misconfigured.ts";
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

/** Upstreams a model may have (the admin API refuses more): an attempt each, at most, per request. */
export const MAX_UPSTREAMS = 8;

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

/** Where a call stands, kept up to date for the caller (which may have to settle the request before the call ends). */
export interface UpstreamProgress {
	/** Attempts that failed so far, in order (the breaker's input). */
	failures: Array<{ position: number; reason: string }>;
	/** An upstream has the request and has not begun its answer (a stream's first chunk, a non-stream answer's headers). */
	waiting: boolean;
	/** That upstream is Workers AI, whose run goes on once started, whether or not the attempt is aborted. */
	unstoppable: boolean;
}

/**
 * Tries the model's upstreams in order. A failure before the first byte (a stream's
 * first chunk, a non-stream answer's headers) moves on to the next upstream: network,
 * timeout, the upstream's configuration (no URL, a missing secret), and any HTTP error
 * but the request's own; once a byte has been accepted there is no retry. Only a 400,
 * 413 or 422 is the request's fault, answered at once: the client never talks to the
 * upstream, so a 401/403/404/408 (a wrong key, URL or model name, a slow upstream) is that
 * upstream's failure. Upstreams whose breaker is open are tried only when every
 * upstream's is. Whatever it throws carries `failures` (the breaker's input).
 */
export async function callUpstreams(
	env: Env,
	model: ModelRecord,
	path: UpstreamPath,
	body: Record<string, unknown>,
	opts: {
		stream: boolean;
		timeouts: UpstreamTimeouts;
		now?: number;
		/**
		 * Aborted when the client has gone: the attempt waiting on an upstream is aborted and no
		 * other upstream is tried. Only until the answer begins: a non-stream answer's headers
		 * come once it is generated, and a stream's client is the stream meter's from its first chunk.
		 */
		clientSignal?: AbortSignal;
		/**
		 * The client's own signal when attempts outlive it (clientSignal follows it later): once
		 * it has aborted, no new attempt starts, since nobody is left to receive the answer.
		 */
		noNewAttemptsAfter?: AbortSignal;
		progress?: UpstreamProgress;
		/** Names the request in the log line each failed attempt writes. */
		requestId?: string;
	},
): Promise<UpstreamCall> {
	const timeouts = opts.timeouts;
	const now = opts.now ?? Date.now();
	const progress = opts.progress ?? { failures: [], waiting: false, unstoppable: false };
	const failures = progress.failures;
	if (model.upstreams.length === 0)
		throw withFailures(new ApiError("upstream_unavailable", `The model '${model.id}' has no upstream configured.`), failures);
	const healthy = model.upstreams.filter((u) => breakerAllows(model.id, u.position, now));
	const order = healthy.length > 0 ? healthy : model.upstreams;
	let lastError: ApiError | null = null;

	const client = opts.clientSignal;
	for (const upstream of order) {
		if (client?.aborted || opts.noNewAttemptsAfter?.aborted) throw withFailures(clientGone(), failures);
		const attempt = new AbortController();
		const deadline = new Deadline(attempt, timeouts, opts.stream);
		const leave = () => attempt.abort(new ClientGone());
		client?.addEventListener("abort", leave, { once: true });
		let response: Response;
		progress.waiting = true;
		progress.unstoppable = upstream.kind === "workers-ai";
		try {
			response = await callOne(env, upstream, path, body, attempt.signal);
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
		} catch (err) {
			deadline.end();
			// Not this upstream's failure: nothing for its breaker, and nobody to answer.
			if (attempt.signal.reason instanceof ClientGone) throw withFailures(clientGone(), failures);
			let reason: string;
			if (err instanceof UpstreamMisconfigured) {
				reason = "configuration";
				lastError = new ApiError(
					"upstream_unavailable",
					`The model's upstream failed: it is not configured correctly (${err.message}). This is not an error in your request.`,
				);
			} else if (attempt.signal.reason instanceof UpstreamTimeout) {
				reason = "timeout";
				lastError = new ApiError("upstream_timeout", "The model's upstream did not answer in time.");
			} else {
				reason = "network";
				lastError = new ApiError("upstream_error", `The model's upstream could not be reached: ${(err as Error).message}`);
			}
			failures.push({ position: upstream.position, reason });
			logUpstreamFailure(opts.requestId, model.id, upstream, reason, lastError.message);
			continue;
		} finally {
			// The attempt answered (a stream's first chunk is in), failed or was refused: from here a
			// failed read means the upstream failed, not that the client left.
			progress.waiting = false;
			progress.unstoppable = false;
			client?.removeEventListener("abort", leave);
		}
		if (CLIENT_ERRORS.has(response.status)) {
			deadline.enter("body");
			const rejected = await rejectedByUpstream(response);
			deadline.end();
			// The request's fault, not the upstream's: no failure of its own for the breaker.
			throw withFailures(rejected, failures);
		}
		deadline.end();
		lastError = new ApiError(
			"upstream_error",
			`The model's upstream failed: it answered the gateway with HTTP ${response.status}. This is not an error in your request.`,
		);
		failures.push({ position: upstream.position, reason: `http ${response.status}` });
		logUpstreamFailure(opts.requestId, model.id, upstream, `http ${response.status}`, lastError.message);
		await response.body?.cancel().catch(() => {});
	}
	throw withFailures(lastError ?? new ApiError("upstream_unavailable", "No upstream could serve the request."), failures);
}

/**
 * One JSON line per failed attempt, for the operator (Workers Logs indexes its fields): the
 * client sees only the last failure, in words meant for it, and the breaker only the reason.
 * Written on failures only, never on the path of a request that went well the first time.
 */
export function logUpstreamFailure(
	requestId: string | undefined,
	modelId: string,
	upstream: Pick<UpstreamRecord, "position" | "kind">,
	reason: string,
	detail: string,
): void {
	console.warn(
		JSON.stringify({
			event: "upstream_failed",
			request_id: requestId ?? null,
			model: modelId,
			upstream: upstream.position,
			kind: upstream.kind,
			reason,
			detail,
		}),
	);
}

/** Why an attempt was aborted when the client went away. */
class ClientGone extends Error {
	constructor() {
		super("the client went away");
	}
}

function clientGone(): ApiError {
	return new ApiError("upstream_error", "The client closed the request before the upstream answered.");
}

/** Statuses that say the request itself is wrong (its content), whichever upstream gets it. */
const CLIENT_ERRORS = new Set([400, 413, 422]);

function withFailures(err: ApiError, failures: UpstreamCall["failures"]): ApiError & { failures: UpstreamCall["failures"] } {
	return Object.assign(err, { failures });
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
