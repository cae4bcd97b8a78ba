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
	return fetch(url, {
		method: "POST",
		headers,
		body: JSON.stringify(upstream.upstreamModel ? { ...body, model: upstream.upstreamModel } : body),
		signal,
	});
}
