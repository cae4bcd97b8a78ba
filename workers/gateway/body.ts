import type { Context } from "hono";
import type { z } from "zod";
import type { AppEnv } from "./app.ts";
import { ApiError, validationError } from "./errors.ts";

const decoder = new TextDecoder();

/**
 * Reads a JSON body whatever its Content-Type (curl users often forget it),
 * enforcing the size limit, and validates it: 413, then 400 naming the field.
 */
export async function readJsonBody<S extends z.ZodType>(
	c: Context<AppEnv>,
	schema: S,
	maxBytes: number,
): Promise<{ value: z.infer<S>; bytes: number }> {
	const declared = Number(c.req.header("content-length") ?? "0");
	if (declared > maxBytes) throw tooLarge(maxBytes);
	const buffer = await c.req.arrayBuffer();
	if (buffer.byteLength > maxBytes) throw tooLarge(maxBytes);
	let value: unknown;
	try {
		value = JSON.parse(decoder.decode(buffer));
	} catch (err) {
		throw new ApiError("invalid_json", `We could not parse the JSON body of your request: ${(err as Error).message}`);
	}
	const result = schema.safeParse(value);
	if (!result.success) throw validationError(result.error.issues);
	return { value: result.data, bytes: buffer.byteLength };
}

function tooLarge(maxBytes: number): ApiError {
	return new ApiError("request_too_large", `Request body is larger than the limit of ${maxBytes} bytes.`);
}

/** Printable ASCII, 1-255 characters: the Idempotency-Key header and the admin credit key. */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** The request's Idempotency-Key header, or null; a malformed one is a 400 naming it. */
export function idempotencyKeyOf(c: Context<AppEnv>): string | null {
	const key = c.req.header("idempotency-key") ?? null;
	if (key !== null && !IDEMPOTENCY_KEY.test(key)) {
		throw new ApiError("invalid_request", "Idempotency-Key must be 1-255 printable ASCII characters.", {
			param: "Idempotency-Key",
		});
	}
	return key;
}
