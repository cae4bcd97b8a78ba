import type { Context } from "hono";
import type { z } from "zod";
import type { StoredResponse } from "../../durable-objects/account-ledger.ts";
import type { ModelRecord } from "../../lib/db/models.ts";
import { bearerToken, hashApiKey, parseApiKey, sha256Hex } from "../../lib/keys.ts";
import { requestFee } from "../../lib/money.ts";
import { ledgerFor } from "./accounts.ts";
import type { AppEnv } from "./app.ts";
import { idempotencyKeyOf, readJsonBody } from "./body.ts";
import { encodeEmbeddingsAsAsked } from "./embedding-encoding.ts";
import { type Config, type Env, readConfig } from "./env.ts";
import { ApiError, idempotencyConflict } from "./errors.ts";
import { type Admission, admit, type Deferrer, enqueueUsage, type FinishedRequest, trackRequest, usageOf } from "./leases.ts";
import { getModel } from "./model-cache.ts";
import { type ChatCompletionRequest, type CompletionRequest, type EmbeddingRequest, Usage } from "./schemas/inference.ts";
import { meterSseStream } from "./streaming/sse-meter.ts";
import { countTokens } from "./streaming/tokens.ts";
import { learnBreakerState } from "./upstreams/breaker.ts";
import { callUpstreams, logUpstreamFailure, type UpstreamCall, type UpstreamProgress } from "./upstreams/index.ts";
import type { UpstreamPath } from "./upstreams/openai-compatible.ts";

// The metered request path shared by chat completions, completions and embeddings:
//
//   key parse (no I/O) → body → model (isolate cache) →
//   admission under the key's credit/rate lease in this isolate (leases.ts; a
//     ledger call only when the lease is missing or short) →
//   upstream (fallback before the first byte) → response to the client →
//   after the response: the finished request joins the lease's next batch
//     (ledger charge, then the model's meter with that charge).
//
// Requests with an Idempotency-Key take the per-request ledger path instead
// (authorize → commit), since the ledger must see the key before forwarding.

export type Endpoint = "chat" | "completion" | "embedding";
type InferenceBody = ChatCompletionRequest | CompletionRequest | EmbeddingRequest;

const PATHS: Record<Endpoint, UpstreamPath> = { chat: "/chat/completions", completion: "/completions", embedding: "/embeddings" };
/** Chat templates add a few tokens per message around its content. */
const TEMPLATE_TOKENS_PER_MESSAGE = 8;

export function bearerKey(header: string | undefined) {
	if (!header) {
		throw new ApiError(
			"invalid_api_key",
			"You didn't provide an API key. Send it in the Authorization header as 'Bearer mdx_...'.",
		);
	}
	const token = bearerToken(header);
	const parsed = token ? parseApiKey(token) : null;
	if (!parsed) throw new ApiError("invalid_api_key", "Malformed API key: expected 'Authorization: Bearer mdx_<payer>_<secret>'.");
	return parsed;
}

/** SHA-256 of keys this isolate has seen (bounded): a busy key is hashed once, not per request. */
const keyHashes = new Map<string, string>();
const KEY_HASHES_MAX = 4096;

export async function keyHashOf(key: string): Promise<string> {
	let hash = keyHashes.get(key);
	if (hash === undefined) {
		hash = await hashApiKey(key);
		if (keyHashes.size >= KEY_HASHES_MAX) keyHashes.clear();
		keyHashes.set(key, hash);
	}
	return hash;
}

export async function handleInference<S extends z.ZodType<InferenceBody>>(c: Context<AppEnv>, endpoint: Endpoint, schema: S) {
	const config = readConfig(c.env);
	const key = bearerKey(c.req.header("authorization"));
	const { value: body, raw } = await readJsonBody(c, schema, config.maxBodyBytes);
	const idempotencyKey = idempotencyKeyOf(c);

	const model = await getModel(c.get("db"), body.model, c.executionCtx);
	if (!model) {
		throw new ApiError("model_not_found", `The model '${body.model}' does not exist or is not available.`, { param: "model" });
	}

	const plan = planRequest(endpoint, body, model, raw.byteLength);
	// The model's cap (max_output_tokens in /v1/models) bounds every answer; a larger limit is
	// refused as OpenAI refuses it, rather than held for tokens the model will never write.
	if (plan.maxCompletionTokens > model.maxOutputTokens) throw answerLimitTooLarge(endpoint, body, plan, model);
	// Past the key's tokens per minute the request could never be admitted: a 429 would send the
	// client (and the SDKs, which retry a 429) back in a minute to be refused again.
	if (plan.maxPromptTokens + plan.maxCompletionTokens > config.keyTokensPerMinute) {
		throw tooManyTokens(endpoint, body, plan, config.keyTokensPerMinute);
	}
	const keyHash = await keyHashOf(key.key);
	const now = Date.now();
	const admission = idempotencyKey
		? await authorizeOnce(c, config, key.payer, {
				keyHash,
				model,
				plan,
				idempotencyKey,
				fingerprint: await requestFingerprint(endpoint, raw),
				now,
			})
		: await admit(c.env, c.executionCtx, config, {
				keyHash,
				payer: key.payer,
				modelId: model.id,
				maxCost: plan.maxCost,
				maxTokens: plan.maxPromptTokens + plan.maxCompletionTokens,
			});
	if (admission instanceof Response) return admission;
	const requestId = admission.requestId;
	c.set("requestId", requestId);

	let settled = false;
	let markSettled = () => {};
	const finish = (outcome: Outcome) => {
		const free = outcome.status === "error" && outcome.completionTokens === 0;
		try {
			admission.finish(c.executionCtx, {
				modelId: model.id,
				payer: key.payer,
				// An error that produced no completion costs nothing, whatever the prompt was.
				promptTokens: free ? 0 : outcome.promptTokens,
				completionTokens: outcome.completionTokens,
				cost: free ? 0n : requestFee(model, outcome.promptTokens, outcome.completionTokens),
				status: outcome.status,
				usageSource: outcome.usageSource,
				createdAt: now,
				upstreams: outcome.upstreams,
				response: outcome.response,
			});
		} finally {
			// Whatever happened, the invocation clientLeft held for this is free to end.
			markSettled();
		}
	};
	/** Finishes the request, once; an outcome still being counted finishes it when counted. */
	const settle = (outcome: Outcome | Promise<Outcome>) => {
		if (settled) return;
		settled = true;
		// The listener holds this whole request (its scope): left on the client's signal, it kept
		// it alive, and promoted to the old generation, until a full collection (bench/README.md).
		client.removeEventListener("abort", clientLeft);
		// One still being counted keeps the invocation alive until it is finished.
		if (outcome instanceof Promise) c.executionCtx.waitUntil(outcome.then(finish));
		else finish(outcome);
	};

	// A client that goes away before the answer begins (the request's signal, with the
	// enable_request_signal flag) is settled from the signal: the runtime may cancel the
	// handler then, so the handler's own settle might never run. A waitUntil, registered
	// then (most clients stay: nothing per request), keeps the invocation alive until the
	// request is settled, so its charge's batch is scheduled whatever the handler's fate.
	// Once the answer has begun, the request is finished as usual (a non-stream answer's
	// headers come once it is generated; a stream's client is the stream meter's from its
	// first chunk, charged for what was delivered).
	// - A non-stream request with an Idempotency-Key outlives its client, for up to
	//   clientGoneMs (the runtime ends the work 30 s after a disconnect): the retry then gets
	//   the stored answer, charged once. So does one whose client leaves while a Workers AI
	//   attempt runs: the binding cannot be stopped, so the answer is generated (and billed
	//   to the operator) whether or not the client stays, and it is charged as generated.
	// - Otherwise the upstream is aborted (callUpstreams) and no other is tried. The request
	//   pays for its prompt if an upstream had it, and nothing of the answer. With an
	//   Idempotency-Key (a stream, whose body is never kept, or past clientGoneMs) it costs
	//   nothing, which leaves the key free for the retry: a used-up key could give no answer.
	const progress: UpstreamProgress = { failures: [], waiting: false, unstoppable: false };
	const leftEarly = () => {
		const upstreams = failedAt(progress);
		if (!progress.waiting || idempotencyKey) return settle(failure(upstreams));
		settle(
			countTokens(plan.promptText()).then(
				(promptTokens): Outcome => ({
					status: "ok",
					promptTokens,
					completionTokens: 0,
					usageSource: "counted",
					response: null,
					upstreams,
				}),
			),
		);
	};
	const client = c.req.raw.signal;
	// What the upstream attempts watch: the client's signal, or one that follows it (clientGoneMs
	// later, or at once when no Idempotency-Key and no Workers AI run calls for waiting).
	const outlives = !plan.stream && (idempotencyKey !== null || hasWorkersAI(model));
	const outlived = outlives ? new AbortController() : null;
	const watched = outlived ? outlived.signal : client;
	const clientLeft = () => {
		if (!settled) {
			c.executionCtx.waitUntil(
				new Promise<void>((resolve) => {
					markSettled = resolve;
				}),
			);
		}
		if (!outlived) return;
		if (idempotencyKey !== null || progress.unstoppable) setTimeout(() => outlived.abort(), config.clientGoneMs);
		else outlived.abort();
	};
	// In this order: the waitUntil is registered before leftEarly settles.
	client.addEventListener("abort", clientLeft, { once: true });
	watched.addEventListener("abort", leftEarly, { once: true });
	if (client.aborted) {
		clientLeft();
		if (!outlived) leftEarly();
	}

	// Every admitted request is finished exactly once, whatever happens from here on:
	// an error before the response costs nothing and releases the hold.
	const forward = async (): Promise<Response> => {
		const call = await callUpstreams(c.env, model, PATHS[endpoint], plan.forwardBody, {
			stream: plan.stream,
			timeouts: config.timeouts,
			clientSignal: watched,
			// Without an Idempotency-Key no retry can replay an answer: only the attempt in flight
			// when the client left outlives it (a Workers AI one cannot be stopped), not a fallback.
			noNewAttemptsAfter: idempotencyKey === null ? client : undefined,
			progress,
			requestId,
		});
		// The answer has begun: it is finished as usual, whether or not the client stays (and
		// clientLeft stays, to keep the invocation alive while a non-stream body is read).
		watched.removeEventListener("abort", leftEarly);

		if (plan.stream && call.stream) {
			const metered = meterSseStream(call.stream, {
				kind: endpoint === "chat" ? "chat" : "completion",
				clientWantsUsage: plan.clientWantsUsage,
				promptText: plan.promptText,
				abortUpstream: () => call.abort(),
			});
			c.executionCtx.waitUntil(
				metered.result.then((r) => {
					if (r.outcome === "upstream_failed" && !r.requestFault) {
						answerFailed(
							requestId,
							model,
							call,
							"stream",
							"The upstream's stream failed after its first chunk (cut off, an error event, or its timeout).",
						);
					}
					settle({
						status: r.outcome === "upstream_failed" && r.completionTokens === 0 ? "error" : "ok",
						promptTokens: r.promptTokens,
						completionTokens: r.completionTokens,
						usageSource: r.usageSource,
						response: null,
						// An error event blaming the request (a prompt over the context) says nothing of the
						// upstream's health: it is left out of the breaker's input, neither failure nor success.
						upstreams: tried(call, r.requestFault ? null : r.outcome !== "upstream_failed"),
					});
				}),
			);
			return new Response(metered.body, {
				headers: {
					"content-type": "text/event-stream; charset=utf-8",
					"cache-control": "no-cache",
					"x-request-id": requestId,
				},
			});
		}

		let text: string;
		try {
			text = await call.response.text();
		} catch {
			// The upstream stopped mid-body, or its total timeout cut it off: nothing usable, nothing charged.
			answerFailed(requestId, model, call, call.timedOut() ? "timeout" : "body", "The upstream's answer stopped before its end.");
			settle(failure(tried(call, false)));
			throw call.timedOut()
				? new ApiError("upstream_timeout", "The model's upstream did not finish its answer in time.")
				: new ApiError("upstream_error", "The model's upstream stopped before its answer was complete.");
		}
		let parsed: Record<string, unknown>;
		try {
			parsed = JSON.parse(text) as Record<string, unknown>;
		} catch {
			answerFailed(
				requestId,
				model,
				call,
				"not_json",
				`The upstream's answer is not JSON: ${JSON.stringify(text.slice(0, 200))}`,
			);
			settle(failure(tried(call, false)));
			throw new ApiError("upstream_error", "The model's upstream sent a response that is not JSON.");
		}
		// JSON that is not an answer (an upstream URL pointing at another service, `null`): charging
		// its prompt for it would bill the client for nothing, and reading it as one threw a 500.
		if (!isAnswer(parsed, endpoint)) {
			answerFailed(
				requestId,
				model,
				call,
				"not_an_answer",
				`The upstream's JSON is not an OpenAI-format answer: ${JSON.stringify(text.slice(0, 200))}`,
			);
			settle(failure(tried(call, false)));
			throw new ApiError("upstream_error", "The model's upstream sent JSON that is not an OpenAI-format answer.");
		}
		const usage = Usage.safeParse(parsed.usage);
		let rewritten = endpoint === "embedding" && encodeEmbeddingsAsAsked(parsed, (body as EmbeddingRequest).encoding_format);
		// Counted before the answer goes out, so GET /v1/generations/{id} has it once the response ends.
		const [promptTokens, completionTokens] = usage.success
			? [usage.data.prompt_tokens, usage.data.completion_tokens]
			: await Promise.all([countTokens(plan.promptText()), countTokens(completionText(parsed))]);
		const usageSource = usage.success ? "upstream" : "counted";
		if (!usage.success) {
			// OpenAI's answers always carry usage (the SDKs' embeddings type requires it): the client
			// gets the counted tokens it is charged for.
			parsed.usage =
				endpoint === "embedding"
					? { prompt_tokens: promptTokens, total_tokens: promptTokens }
					: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
			rewritten = true;
		}
		if (rewritten) text = JSON.stringify(parsed);
		// Kept for Idempotency-Key replays only.
		const stored: StoredResponse | null = idempotencyKey ? { status: 200, contentType: "application/json", body: text } : null;
		settle({ status: "ok", promptTokens, completionTokens, usageSource, response: stored, upstreams: tried(call, true) });
		return new Response(text, { status: 200, headers: { "content-type": "application/json", "x-request-id": requestId } });
	};
	try {
		return await forward();
	} catch (err) {
		settle(failure(failedAt(err)));
		throw err;
	}
}

// ── Planning: the bounds a request is admitted against ──────────────────────

interface RequestPlan {
	stream: boolean;
	clientWantsUsage: boolean;
	/** The prompt as text, built on demand (only the token-counting fallback needs it). */
	promptText: () => string;
	maxPromptTokens: number;
	maxCompletionTokens: number;
	maxCost: bigint;
	forwardBody: Record<string, unknown>;
}

/**
 * Upper bounds of the request's tokens and cost, held before forwarding. Prompt
 * tokens are bounded by the body's UTF-8 size (a byte-level BPE token covers at
 * least one byte) plus the chat template; completion tokens by max_tokens, which
 * the gateway sets to the model's cap when the client gives none, so the bound
 * holds for any upstream that honours max_tokens.
 */
export function planRequest(endpoint: Endpoint, body: InferenceBody, model: ModelRecord, bodyBytes: number): RequestPlan {
	const forwardBody: Record<string, unknown> = { ...body };
	// The prompt's text is needed only to count tokens when the upstream reports none.
	let promptText: () => string;
	let messages = 1;
	let maxCompletionTokens = 0;
	if (endpoint === "embedding") {
		const input = (body as EmbeddingRequest).input;
		promptText = () => (Array.isArray(input) ? input.join("\n") : input);
		messages = Array.isArray(input) ? input.length : 1;
	} else {
		// The smallest limit the client gave, or the model's cap, goes to the upstream in one
		// field: max_tokens, which every open-model server reads (llama.cpp, TGI and Ollama read
		// only it, and would generate past a hold sized for max_completion_tokens); OpenAI's own
		// API gets it as max_completion_tokens instead (callOpenAICompatible), since it refuses
		// both at once.
		const completionLimit = endpoint === "chat" ? (body as ChatCompletionRequest).max_completion_tokens : null;
		const tokensLimit = (body as ChatCompletionRequest | CompletionRequest).max_tokens;
		maxCompletionTokens =
			completionLimit != null && tokensLimit != null
				? Math.min(completionLimit, tokensLimit)
				: (completionLimit ?? tokensLimit ?? model.maxOutputTokens);
		forwardBody.max_tokens = maxCompletionTokens;
		delete forwardBody.max_completion_tokens;
		if (endpoint === "chat") {
			const chat = body as ChatCompletionRequest;
			messages = chat.messages.length;
			promptText = () => chatPromptText(chat);
		} else {
			const prompt = (body as CompletionRequest).prompt;
			promptText = () => (Array.isArray(prompt) ? prompt.join("") : prompt);
		}
	}
	const stream = endpoint !== "embedding" && (body as ChatCompletionRequest).stream === true;
	const clientWantsUsage = (body as ChatCompletionRequest).stream_options?.include_usage === true;
	if (stream) forwardBody.stream_options = { ...((body as ChatCompletionRequest).stream_options ?? {}), include_usage: true };
	const maxPromptTokens = bodyBytes + TEMPLATE_TOKENS_PER_MESSAGE * messages;
	return {
		stream,
		clientWantsUsage,
		promptText,
		maxPromptTokens,
		maxCompletionTokens,
		maxCost: requestFee(model, maxPromptTokens, maxCompletionTokens),
		forwardBody,
	};
}

/** OpenAI's 400 for a completion limit above the model's cap, naming the field that set it. */
function answerLimitTooLarge(endpoint: Endpoint, body: InferenceBody, plan: RequestPlan, model: ModelRecord): ApiError {
	const completionLimit = endpoint === "chat" ? (body as ChatCompletionRequest).max_completion_tokens : null;
	const field = completionLimit === plan.maxCompletionTokens ? "max_completion_tokens" : "max_tokens";
	const limit = plan.maxCompletionTokens;
	return new ApiError(
		"invalid_request",
		`${field} is too large: ${limit}. This model supports at most ${model.maxOutputTokens} completion tokens, whereas you provided ${limit}.`,
		{ param: field },
	);
}

/** The 400 for a request whose token bound alone is more than the key may use in a minute; it names the larger part. */
function tooManyTokens(endpoint: Endpoint, body: InferenceBody, plan: RequestPlan, tokensPerMinute: number): ApiError {
	const chat = body as ChatCompletionRequest;
	const promptField = endpoint === "chat" ? "messages" : endpoint === "completion" ? "prompt" : "input";
	const limitField =
		endpoint === "chat" && chat.max_completion_tokens != null && chat.max_tokens == null ? "max_completion_tokens" : "max_tokens";
	const answerBound = plan.maxCompletionTokens > plan.maxPromptTokens;
	const parts = endpoint === "embedding" ? "" : ` and ${plan.maxCompletionTokens} for the answer`;
	return new ApiError(
		"invalid_request",
		`This request may use up to ${plan.maxPromptTokens + plan.maxCompletionTokens} tokens (${plan.maxPromptTokens} for the prompt, bounded by the request's size in bytes,${parts}), more than this API key's limit of ${tokensPerMinute} tokens per minute, so it could never run: lower ${answerBound ? `'${limitField}'` : `the size of '${promptField}'`}.`,
		{ param: answerBound ? limitField : promptField },
	);
}

// ── After the response ──────────────────────────────────────────────────────

/** What the request path learns of a request's end; leases.ts adds the model, payer, cost and time. */
type Outcome = Pick<FinishedRequest, "status" | "promptTokens" | "completionTokens" | "usageSource" | "upstreams"> & {
	response: StoredResponse | null;
};

/**
 * The per-request ledger path, for requests with an Idempotency-Key: one
 * `authorize` (key, rates, credit hold and the idempotency record), and after the
 * response `commit` then the meter, with what the ledger charged. Returns the
 * replayed response when the key already ran.
 */
async function authorizeOnce(
	c: Context<AppEnv>,
	config: Config,
	payer: string,
	req: { keyHash: string; model: ModelRecord; plan: RequestPlan; idempotencyKey: string; fingerprint: string; now: number },
): Promise<Admission | Response> {
	const requestId = c.get("requestId");
	const ledger = ledgerFor(c.env, payer);
	const verdict = await ledger.authorize({
		keyHash: req.keyHash,
		requestId,
		modelId: req.model.id,
		maxCost: req.plan.maxCost,
		maxTokens: req.plan.maxPromptTokens + req.plan.maxCompletionTokens,
		requestsPerMinute: config.keyRequestsPerMinute,
		tokensPerMinute: config.keyTokensPerMinute,
		idempotencyKey: req.idempotencyKey,
		fingerprint: req.fingerprint,
		now: req.now,
	});
	if (!verdict.ok) {
		switch (verdict.code) {
			case "idempotent_replay":
				return replay(verdict.requestId, verdict.response);
			case "rate_limit_exceeded":
				throw new ApiError(verdict.code, verdict.message, { headers: { "retry-after": String(verdict.retryAfterSeconds) } });
			case "idempotency_conflict":
				throw idempotencyConflict(verdict.message, verdict.final);
			default:
				throw new ApiError(verdict.code, verdict.message);
		}
	}
	// In flight like a leased request: while it runs, the isolate is not idle (leases.ts).
	const tracked = trackRequest(c.env, config);
	return {
		requestId,
		finish(ctx, outcome) {
			ctx.waitUntil(commitAndMeter(c.env, ctx, config, requestId, verdict.keyId, outcome));
			tracked.end(ctx);
		},
	};
}

/** What a retry must repeat to get the first answer under its Idempotency-Key: the endpoint and the body, byte for byte. */
async function requestFingerprint(endpoint: Endpoint, body: BufferSource): Promise<string> {
	return `${endpoint}:${await sha256Hex(body)}`;
}

/** Charges the payer, then meters the model with the charge; both idempotent by request id. */
async function commitAndMeter(
	env: Env,
	ctx: Deferrer,
	config: Config,
	requestId: string,
	keyId: string,
	outcome: FinishedRequest,
): Promise<void> {
	// Commit is idempotent by request id: one retry covers a transient Durable Object error.
	const commitInput = {
		requestId,
		modelId: outcome.modelId,
		promptTokens: outcome.promptTokens,
		completionTokens: outcome.completionTokens,
		cost: outcome.cost,
		status: outcome.status,
		usageSource: outcome.usageSource,
		response: outcome.response ?? null,
		now: Date.now(),
	};
	const ledger = ledgerFor(env, outcome.payer);
	let charged: bigint;
	try {
		charged = (await ledger.commit(commitInput).catch(() => ledger.commit(commitInput))).charged;
	} catch (err) {
		// Not charged (the hold expires and is released): meter it as free so no fee is settled.
		console.error("ledger commit failed", requestId, err);
		charged = 0n;
	}
	const usage = { ...usageOf(requestId, keyId, outcome), fee: charged };
	try {
		const { breaker } = await env.MODEL_METER.getByName(outcome.modelId).record(outcome.modelId, usage);
		learnBreakerState(outcome.modelId, breaker);
	} catch (err) {
		// The model's batch queue retries until the meter takes it (it ignores ids it has seen).
		console.error("meter record failed; queued with the model's next batch", requestId, err);
		enqueueUsage(env, ctx, config, outcome.modelId, usage);
	}
}

function replay(requestId: string, stored: StoredResponse | null): Response {
	if (!stored) {
		throw idempotencyConflict(
			`A request with this Idempotency-Key already ran as ${requestId} (streamed, so its body was not kept); it was charged once. See GET /v1/generations/${requestId}.`,
			true,
		);
	}
	return new Response(stored.body, {
		status: stored.status,
		headers: { "content-type": stored.contentType, "idempotent-replayed": "true", "x-request-id": requestId },
	});
}

/** The answer began and then failed: logged for the operator, as a failed attempt is (callUpstreams). */
function answerFailed(requestId: string, model: ModelRecord, call: UpstreamCall, reason: string, detail: string): void {
	const upstream = model.upstreams.find((u) => u.position === call.position);
	if (upstream) logUpstreamFailure(requestId, model.id, upstream, reason, detail);
}

/** An OpenAI-format answer of the endpoint: an object with its `choices` (or, for embeddings, `data`) list. */
function isAnswer(parsed: unknown, endpoint: Endpoint): parsed is Record<string, unknown> {
	if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return false;
	return Array.isArray((parsed as Record<string, unknown>)[endpoint === "embedding" ? "data" : "choices"]);
}

/** Some upstream is Workers AI, whose binding cannot be stopped once it runs. */
function hasWorkersAI(model: ModelRecord): boolean {
	return model.upstreams.some((u) => u.kind === "workers-ai");
}

/** A request that failed before producing anything: it costs nothing. */
function failure(upstreams: Outcome["upstreams"]): Outcome {
	return { status: "error", promptTokens: 0, completionTokens: 0, usageSource: "none", response: null, upstreams };
}

function failedAt(err: unknown): Outcome["upstreams"] {
	const failures = (err as { failures?: Array<{ position: number }> }).failures ?? [];
	return failures.map((f) => ({ position: f.position, ok: false }));
}

/** The upstreams a call tried: those that failed before it, then the one that answered (left out when `servedOk` is null: its answer says nothing of its health). */
function tried(call: UpstreamCall, servedOk: boolean | null): Outcome["upstreams"] {
	const failed = call.failures.map((f) => ({ position: f.position, ok: false }));
	return servedOk === null ? failed : [...failed, { position: call.position, ok: servedOk }];
}

// ── Texts to count when the upstream reports no usage ──────────────────────

type Loose = Record<string, unknown>;
const loose = (value: unknown): Loose => (typeof value === "object" && value !== null ? (value as Loose) : {});
const text = (value: unknown): string => (typeof value === "string" ? value : "");
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** A tool call's (or legacy function call's) name and arguments. */
function callText(call: unknown): string[] {
	const fn = loose(loose(call).function ?? call);
	return [text(fn.name), text(fn.arguments)];
}

/**
 * What a chat prompt's tokens are counted from: the messages' text (text parts of array
 * content; images and audio are not text, and their base64 would count as ~1 token per 4
 * bytes), the tool calls in them, and the tools offered.
 */
export function chatPromptText(chat: ChatCompletionRequest): string {
	const parts: string[] = [];
	for (const message of chat.messages) {
		if (typeof message.content === "string") parts.push(message.content);
		for (const part of list(message.content)) if (loose(part).type === "text") parts.push(text(loose(part).text));
		for (const call of list(message.tool_calls)) parts.push(...callText(call));
		if (message.function_call) parts.push(...callText(message.function_call));
	}
	for (const tools of [chat.tools, chat.functions]) if (Array.isArray(tools)) parts.push(JSON.stringify(tools));
	return parts.filter((p) => p !== "").join("\n");
}

/** What a non-stream answer's completion tokens are counted from: text, reasoning, refusal and tool calls. */
export function completionText(parsed: Record<string, unknown>): string {
	const parts: string[] = [];
	for (const choice of list(parsed.choices)) {
		const ch = loose(choice);
		parts.push(text(ch.text));
		const message = loose(ch.message);
		parts.push(text(message.content), text(message.refusal), text(message.reasoning_content || message.reasoning));
		for (const call of list(message.tool_calls)) parts.push(...callText(call));
		if (message.function_call) parts.push(...callText(message.function_call));
	}
	return parts.join("");
}
