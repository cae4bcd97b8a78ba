import type { UpstreamRecord } from "../../../lib/db/models.ts";
import type { Env } from "../env.ts";
import { UpstreamMisconfigured } from "./misconfigured.ts";

// An OpenAI-compatible HTTP upstream: vLLM, TGI, Ollama, llama.cpp server, or
// any service speaking OpenAI's wire format.

export type UpstreamPath = "/chat/completions" | "/completions" | "/embeddings";

export function callOpenAICompatible(
	env: Env,
	upstream: UpstreamRecord,
	path: UpstreamPath,
	body: Record<string, unknown>,
	signal: AbortSignal,
): Promise<Response> {
	if (!upstream.baseUrl) throw new UpstreamMisconfigured("it has no URL");
	const headers: Record<string, string> = { "content-type": "application/json" };
	if (upstream.apiKeySecret) {
		const secret = (env as unknown as Record<string, string | undefined>)[upstream.apiKeySecret];
		if (!secret) throw new UpstreamMisconfigured("its API key secret is not set");
		headers.authorization = `Bearer ${secret}`;
	}
	const target = targetOf(upstream, upstream.baseUrl);
	const rename = target.limitField === "max_completion_tokens" && body.max_tokens !== undefined;
	// One copy, and only when something changes (the body is shared by the fallback attempts).
	let sent = body;
	if (upstream.upstreamModel || rename) {
		sent = { ...body };
		if (upstream.upstreamModel) sent.model = upstream.upstreamModel;
		if (rename) {
			sent.max_completion_tokens = sent.max_tokens;
			delete sent.max_tokens;
		}
	}
	return fetch(`${target.base}${path}`, { method: "POST", headers, body: JSON.stringify(sent), signal });
}

/** What a request needs of an upstream row's URL, worked out once per row (the model cache keeps the rows). */
interface Target {
	/** The base URL without trailing slashes. */
	base: string;
	limitField: "max_tokens" | "max_completion_tokens";
}

const targets = new WeakMap<UpstreamRecord, Target>();

function targetOf(upstream: UpstreamRecord, baseUrl: string): Target {
	let target = targets.get(upstream);
	if (!target) {
		target = { base: baseUrl.replace(/\/+$/, ""), limitField: completionLimitField(baseUrl) };
		targets.set(upstream, target);
	}
	return target;
}

/**
 * Which field carries the completion limit (the gateway's body has it as max_tokens):
 * OpenAI's own API (and Azure OpenAI) wants max_completion_tokens, refusing max_tokens on
 * its newer models and the two together on all; open-model servers (vLLM, TGI, Ollama,
 * llama.cpp) read max_tokens, some of them only that.
 */
export function completionLimitField(baseUrl: string): "max_tokens" | "max_completion_tokens" {
	let host = "";
	try {
		host = new URL(baseUrl).hostname;
	} catch {}
	return host === "api.openai.com" || host.endsWith(".openai.azure.com") ? "max_completion_tokens" : "max_tokens";
}
