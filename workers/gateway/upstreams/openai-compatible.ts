import type { UpstreamRecord } from "../../../lib/db/models.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../errors.ts";

// An OpenAI-compatible HTTP upstream: vLLM, TGI, Ollama, llama.cpp server, or
// any service speaking OpenAI's wire format.

const TOTAL_TIMEOUT_MS = 120_000;

export async function callOpenAICompatible(
	env: Env,
	upstream: UpstreamRecord,
	path: "/chat/completions" | "/completions" | "/embeddings",
	body: Record<string, unknown>,
	signal?: AbortSignal,
): Promise<Response> {
	if (!upstream.baseUrl) throw new ApiError("upstream_error", "The model's upstream has no URL configured.");
	const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
	if (upstream.apiKeySecret) {
		const secret = (env as unknown as Record<string, string | undefined>)[upstream.apiKeySecret];
		if (!secret) throw new ApiError("upstream_error", "The model's upstream credentials are not configured.");
		headers.authorization = `Bearer ${secret}`;
	}
	const timeout = AbortSignal.timeout(TOTAL_TIMEOUT_MS);
	const url = `${upstream.baseUrl.replace(/\/+$/, "")}${path}`;
	try {
		return await fetch(url, {
			method: "POST",
			headers,
			body: JSON.stringify(upstream.upstreamModel ? { ...body, model: upstream.upstreamModel } : body),
			signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
		});
	} catch (err) {
		if (timeout.aborted) throw new ApiError("upstream_timeout", "The model's upstream did not answer in time.");
		throw new ApiError("upstream_error", `The model's upstream could not be reached: ${(err as Error).message}`);
	}
}
