import type { Context } from "hono";
import type { z } from "zod";
import type { AppEnv } from "./app.ts";
import { concat } from "./bytes.ts";
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
): Promise<{ value: z.infer<S>; raw: BufferSource }> {
	const length = c.req.header("content-length");
	if (length !== undefined && Number(length) > maxBytes) throw tooLarge(maxBytes);
	// With a Content-Length the runtime holds the body to it; without one (chunked), it is
	// read only up to the limit, not whole into the isolate's memory first.
	const buffer = length !== undefined || !c.req.raw.body ? await c.req.arrayBuffer() : await readUpTo(c.req.raw.body, maxBytes);
	if (buffer.byteLength > maxBytes) throw tooLarge(maxBytes);
	let value: unknown;
	try {
		value = JSON.parse(decoder.decode(buffer));
	} catch (err) {
		throw new ApiError("invalid_json", `We could not parse the JSON body of your request: ${(err as Error).message}`);
	}
	const result = schema.safeParse(value);
	if (!result.success) throw validationError(result.error.issues);
	return { value: result.data, raw: buffer };
}

/** The stream's bytes; past `maxBytes` it stops reading and throws the 413. */
async function readUpTo(body: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array> {
	const reader = body.getReader();
	const chunks: Uint8Array[] = [];
	let total = 0;
	for (;;) {
		const { done, value } = await reader.read();
		if (done) break;
		total += value.byteLength;
		if (total > maxBytes) {
			reader.cancel().catch(() => {});
			throw tooLarge(maxBytes);
		}
		chunks.push(value);
	}
	return concat(chunks);
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

/**
 * A model id from the path, percent-decoded where that is valid: a malformed sequence
 * (say, a cut-off "%E0%A4%A") is taken as written, so the id is simply not found (404),
 * rather than the decoder's URIError becoming a 500.
 */
export function pathId(raw: string): string {
	try {
		return decodeURIComponent(raw);
	} catch {
		return raw;
	}
}

/**
 * A path after /v1/models/ or /v1/markets/: a model id (which contains a slash, raw or %2F),
 * then one of `views` as an optional last segment. A model whose own name ends like a view
 * (a Hugging Face repo "org/stats") is the whole path when the part before the suffix
 * names nothing; `find` looks a model up by id.
 */
export async function modelPath<T>(
	rest: string,
	views: readonly string[],
	find: (id: string) => Promise<T | null | undefined>,
): Promise<{ id: string; view: string; found: T | null }> {
	const slash = rest.lastIndexOf("/");
	const suffix = slash > 0 ? rest.slice(slash + 1) : "";
	if (views.includes(suffix)) {
		const id = pathId(rest.slice(0, slash));
		const found = await find(id);
		if (found) return { id, view: suffix, found };
	}
	const id = pathId(rest);
	return { id, view: "", found: (await find(id)) ?? null };
}
