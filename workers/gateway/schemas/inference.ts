import { z } from "@hono/zod-openapi";

// The fields the gateway reads or checks. Everything else a client sends
// (tools, response_format, seed, ...) passes through to the upstream untouched.
const ContentPart = z.looseObject({ type: z.string() });

export const ChatMessage = z.looseObject({
	role: z.enum(["system", "developer", "user", "assistant", "tool", "function"]),
	content: z.union([z.string(), z.array(ContentPart), z.null()]).optional(),
	name: z.string().optional(),
});

export const ChatCompletionRequest = z
	.looseObject({
		model: z.string().min(1, "must name a model"),
		messages: z.array(ChatMessage).min(1, "must contain at least one message"),
		stream: z.boolean().optional(),
		stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
		max_tokens: z.number().int().positive().nullish(),
		max_completion_tokens: z.number().int().positive().nullish(),
		temperature: z.number().min(0).max(2).nullish(),
		top_p: z.number().min(0).max(1).nullish(),
		n: z.number().int().min(1).max(1, "only n=1 is supported").nullish(),
	})
	.openapi("ChatCompletionRequest");

export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequest>;

/** The `usage` object of an OpenAI-format response. */
export const Usage = z.looseObject({
	prompt_tokens: z.number().int().nonnegative(),
	completion_tokens: z.number().int().nonnegative().default(0),
	total_tokens: z.number().int().nonnegative().optional(),
});
export type Usage = z.infer<typeof Usage>;

export const CompletionRequest = z
	.looseObject({
		model: z.string().min(1, "must name a model"),
		prompt: z.union([z.string(), z.array(z.string()).min(1).max(1, "only one prompt per request is supported")]),
		stream: z.boolean().optional(),
		stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
		max_tokens: z.number().int().positive().nullish(),
		temperature: z.number().min(0).max(2).nullish(),
		top_p: z.number().min(0).max(1).nullish(),
		n: z.number().int().min(1).max(1, "only n=1 is supported").nullish(),
		// best_of > 1 makes the upstream write that many answers (and bill them) to return one: more
		// than max_tokens bounds, so more than the credit held for the request.
		best_of: z.number().int().min(1).max(1, "only best_of=1 is supported").nullish(),
	})
	.openapi("CompletionRequest");
export type CompletionRequest = z.infer<typeof CompletionRequest>;

export const EmbeddingRequest = z
	.looseObject({
		model: z.string().min(1, "must name a model"),
		input: z.union([z.string(), z.array(z.string()).min(1).max(2048)]),
		encoding_format: z.enum(["float", "base64"]).optional(),
		dimensions: z.number().int().positive().optional(),
	})
	.openapi("EmbeddingRequest");
export type EmbeddingRequest = z.infer<typeof EmbeddingRequest>;
