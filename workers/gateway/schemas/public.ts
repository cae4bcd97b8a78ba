import { z } from "@hono/zod-openapi";

// Response shapes of the public read API. Amounts are decimal strings of PACA base
// units (18 decimals): JSON numbers cannot hold them exactly.

const BaseUnits = z.string().regex(/^\d+$/).openapi({ description: "PACA base units (18 decimals) as a decimal string" });

export const ModelObject = z
	.object({
		id: z.string(),
		object: z.literal("model"),
		created: z.number().int(),
		owned_by: z.string(),
		name: z.string(),
		pricing: z.object({ input_per_1m_tokens: BaseUnits, output_per_1m_tokens: BaseUnits, currency: z.literal("PACA") }),
		max_output_tokens: z.number().int().openapi({
			description: "The most completion tokens one answer may have: a larger max_tokens or max_completion_tokens gets a 400.",
		}),
		huggingface: z.object({ repo: z.string(), revision: z.string().nullable() }).nullable(),
		token: z
			.object({
				address: z.string(),
				imo_status: z.enum(["none", "funding", "graduated"]),
				sale_address: z.string().nullable(),
				pool_address: z.string().nullable(),
				raised: BaseUnits.nullable(),
				threshold: BaseUnits.nullable(),
			})
			.nullable(),
	})
	.openapi("Model");

export const ModelList = z.object({ object: z.literal("list"), data: z.array(ModelObject) }).openapi("ModelList");

const Counters = z.object({
	requests: z.number().int(),
	errors: z.number().int(),
	prompt_tokens: z.number().int(),
	completion_tokens: z.number().int(),
	fees: BaseUnits,
});

/** Times in milliseconds, unlike the Unix seconds of models, keys and withdrawals: say so where they appear. */
const UnixMs = (what: string) =>
	z
		.number()
		.int()
		.openapi({ description: `${what}, Unix milliseconds` });

export const ModelStats = z
	.object({ model: z.string(), total: Counters, last_minute: Counters, updated_at: UnixMs("When these numbers were read") })
	.openapi("ModelStats");

export const GenerationObject = z
	.object({
		id: z.string(),
		object: z.literal("generation"),
		model: z.string(),
		key_id: z.string(),
		prompt_tokens: z.number().int(),
		completion_tokens: z.number().int(),
		cost: BaseUnits,
		status: z.enum(["ok", "error"]),
		usage_source: z.enum(["upstream", "counted", "none"]),
		created_at: UnixMs("When the request arrived"),
		finished_at: UnixMs("When it finished"),
	})
	.openapi("Generation");

export const ErrorBody = z
	.object({
		error: z.object({ message: z.string(), type: z.string(), code: z.string(), param: z.string().nullable() }),
	})
	.openapi("Error");
