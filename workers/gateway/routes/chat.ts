import { findRoutableModel } from "../../../lib/db/models.ts";
import { requestFee } from "../../../lib/money.ts";
import type { App } from "../app.ts";
import { requireApiKey } from "../auth.ts";
import { readJsonBody } from "../body.ts";
import { readConfig } from "../env.ts";
import { ApiError } from "../errors.ts";
import { ChatCompletionRequest, Usage } from "../schemas/chat.ts";
import { callOpenAICompatible } from "../upstreams/openai-compatible.ts";

export function registerChatRoutes(app: App): void {
	app.post("/v1/chat/completions", requireApiKey, async (c) => {
		const body = await readJsonBody(c, ChatCompletionRequest, readConfig(c.env).maxBodyBytes);
		if (body.stream) throw new ApiError("invalid_request", "Streaming is not available yet.", { param: "stream" });

		const model = await findRoutableModel(c.get("db"), body.model);
		if (!model) {
			throw new ApiError("model_not_found", `The model '${body.model}' does not exist or is not available.`, {
				param: "model",
			});
		}
		const upstream = model.upstreams.find((u) => u.kind === "openai");
		if (!upstream) throw new ApiError("model_not_found", `The model '${body.model}' has no upstream.`, { param: "model" });

		const response = await callOpenAICompatible(c.env, upstream, "/chat/completions", body);
		if (!response.ok) {
			throw new ApiError("upstream_error", `The model's upstream answered with HTTP ${response.status}.`);
		}
		const completion = (await response.json()) as Record<string, unknown>;
		const usage = Usage.safeParse(completion.usage);
		const promptTokens = usage.success ? usage.data.prompt_tokens : 0;
		const completionTokens = usage.success ? usage.data.completion_tokens : 0;

		const caller = c.get("caller");
		const meter = c.env.MODEL_METER.getByName(model.id);
		c.executionCtx.waitUntil(
			meter.record(model.id, {
				requestId: c.get("requestId"),
				keyId: caller.keyId,
				payer: caller.payer,
				promptTokens,
				completionTokens,
				fee: requestFee(model, promptTokens, completionTokens),
				status: "ok",
				createdAt: Date.now(),
			}),
		);
		return c.json(completion);
	});
}
