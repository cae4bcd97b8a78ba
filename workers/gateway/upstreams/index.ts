import type { ModelRecord, UpstreamRecord } from "../../../lib/db/models.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../errors.ts";
import { breakerAllows } from "./breaker.ts";
import { callOpenAICompatible, type UpstreamPath } from "./openai-compatible.ts";
import { callWorkersAI } from "./workers-ai.ts";

export interface UpstreamTimeouts {
	/** Until the upstream's response headers (covers connecting). */
	headersMs: number;
	/** Until the first body chunk of a stream. */
	firstByteMs: number;
	/** The whole exchange, body included. */
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
	stream?: UpstreamStream;
	/** Position of the upstream that answered, for the circuit breaker. */
	position: number;
	/** Upstreams tried before this one, with why they were skipped. */
	failures: Array<{ position: number; reason: string }>;
}

/**
 * Tries the model's upstreams in order. A failure before the first byte (network,
 * timeout, 5xx, 429) moves on to the next upstream; once a byte has been
 * accepted there is no retry. A 4xx other than 429 is the request's fault and is
 * answered at once. Upstreams whose breaker is open are tried only when every
 * upstream's is.
 */
export async function callUpstreams(
	env: Env,
	model: ModelRecord,
	path: UpstreamPath,
	body: Record<string, unknown>,
	opts: { stream: boolean; signal: AbortSignal; timeouts: UpstreamTimeouts; now?: number },
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
		const total = AbortSignal.timeout(timeouts.totalMs);
		const signal = AbortSignal.any([opts.signal, attempt.signal, total]);
		const headersTimer = setTimeout(() => attempt.abort(new UpstreamTimeout("headers")), timeouts.headersMs);
		try {
			const response = await callOne(env, upstream, path, body, signal);
			clearTimeout(headersTimer);
			if (response.ok) {
				const stream = opts.stream && response.body ? await firstChunk(response, timeouts.firstByteMs, attempt) : undefined;
				return { response, stream, position: upstream.position, failures };
			}
			if (response.status >= 500 || response.status === 429) {
				lastError = new ApiError("upstream_error", `The model's upstream answered with HTTP ${response.status}.`);
				failures.push({ position: upstream.position, reason: `http ${response.status}` });
				await response.body?.cancel();
				continue;
			}
			throw await rejectedByUpstream(response);
		} catch (err) {
			clearTimeout(headersTimer);
			if (err instanceof ApiError) throw err;
			if (opts.signal.aborted) throw err;
			const timedOut = attempt.signal.reason instanceof UpstreamTimeout || total.aborted;
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

class UpstreamTimeout extends Error {
	constructor(readonly phase: "headers" | "first-byte") {
		super(`upstream ${phase} timeout`);
	}
}

/** Waits for the stream's first chunk, so a silent upstream can still be replaced. */
async function firstChunk(response: Response, timeoutMs: number, attempt: AbortController): Promise<UpstreamStream> {
	const reader = (response.body as ReadableStream<Uint8Array>).getReader();
	const timer = setTimeout(() => attempt.abort(new UpstreamTimeout("first-byte")), timeoutMs);
	try {
		const first = await reader.read();
		return { first: first.done ? null : first.value, reader };
	} finally {
		clearTimeout(timer);
	}
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
