import type { App } from "../app.ts";
import { handleInference } from "../inference.ts";
import { ChatCompletionRequest, CompletionRequest, EmbeddingRequest } from "../schemas/inference.ts";

export function registerInferenceRoutes(app: App): void {
	app.post("/v1/chat/completions", (c) => handleInference(c, "chat", ChatCompletionRequest));
	app.post("/v1/completions", (c) => handleInference(c, "completion", CompletionRequest));
	app.post("/v1/embeddings", (c) => handleInference(c, "embedding", EmbeddingRequest));
}
