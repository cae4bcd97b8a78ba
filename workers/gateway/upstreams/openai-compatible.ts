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
	const url = `${upstream.baseUrl.replace(/\/+$/, "")}${path}`;
	let sent = upstream.upstreamModel ? { ...body, model: upstream.upstreamModel } : body;
	if (sent.max_tokens !== undefined && completionLimitField(upstream.baseUrl) === "max_completion_tokens") {
		const { max_tokens, ...rest } = sent;
		sent = { ...rest, max_completion_tokens: max_tokens };
	}
	return fetch(url, { method: "POST", headers, body: JSON.stringify(sent), signal });
}

/**
 * Which field carries the completion limit (the gateway's body has it as max_tokens):
 * OpenAI's own API (and Azure OpenAI) wants max_completion_tokens, refusing max_tokens on
 * its newer models and the two together on all; open-model servers (vLLM, TGI, Ollama,
 * llama.cpp) read max_tokens, some of them only that.
 */
export function completionLimitField(baseUrl: string): "max_tokens" | "max_completion_tokens" {
	let field = limitFields.get(baseUrl);
	if (field === undefined) {
		let host = "";
		try {
			host = new URL(baseUrl).hostname;
		} catch {}
		field = host === "api.openai.com" || host.endsWith(".openai.azure.com") ? "max_completion_tokens" : "max_tokens";
		if (limitFields.size >= 1024) limitFields.clear();
		limitFields.set(baseUrl, field);
	}
	return field;
}

/** completionLimitField by base URL (a URL parse per request would be wasted). */
const limitFields = new Map<string, "max_tokens" | "max_completion_tokens">();
