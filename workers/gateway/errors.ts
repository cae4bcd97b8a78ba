import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

// Every error the API returns, with its HTTP status and OpenAI error `type`.
// The body is always OpenAI's shape: {"error":{"message","type","code","param"}}.
export const ERRORS = {
	invalid_api_key: { status: 401, type: "invalid_request_error" },
	/** A missing or bad session token, SIWE sign-in or admin token (not an API key). */
	unauthorized: { status: 401, type: "invalid_request_error" },
	invalid_json: { status: 400, type: "invalid_request_error" },
	invalid_request: { status: 400, type: "invalid_request_error" },
	insufficient_quota: { status: 402, type: "insufficient_quota" },
	model_not_allowed: { status: 403, type: "invalid_request_error" },
	model_not_found: { status: 404, type: "invalid_request_error" },
	not_found: { status: 404, type: "invalid_request_error" },
	method_not_allowed: { status: 405, type: "invalid_request_error" },
	idempotency_conflict: { status: 409, type: "invalid_request_error" },
	request_too_large: { status: 413, type: "invalid_request_error" },
	rate_limit_exceeded: { status: 429, type: "rate_limit_error" },
	upstream_error: { status: 502, type: "api_error" },
	upstream_unavailable: { status: 503, type: "api_error" },
	upstream_timeout: { status: 504, type: "api_error" },
	internal_error: { status: 500, type: "server_error" },
} as const satisfies Record<string, { status: ContentfulStatusCode; type: string }>;

export type ErrorCode = keyof typeof ERRORS;

export interface OpenAIErrorBody {
	error: { message: string; type: string; code: ErrorCode; param: string | null };
}

export class ApiError extends HTTPException {
	readonly code: ErrorCode;
	readonly param: string | null;
	readonly headers: Record<string, string>;

	/**
	 * `final`: retrying the same request cannot change the answer. It says so with
	 * `x-should-retry: false`, which the official SDKs honour (they retry every 409 otherwise).
	 */
	constructor(
		code: ErrorCode,
		message: string,
		opts: { param?: string | null; headers?: Record<string, string>; final?: boolean } = {},
	) {
		super(ERRORS[code].status, { message });
		this.code = code;
		this.param = opts.param ?? null;
		this.headers = opts.final ? { ...opts.headers, "x-should-retry": "false" } : (opts.headers ?? {});
	}

	toBody(): OpenAIErrorBody {
		return { error: { message: this.message, type: ERRORS[this.code].type, code: this.code, param: this.param } };
	}

	toResponse(): Response {
		return Response.json(this.toBody(), { status: this.status, headers: this.headers });
	}
}

/** A 409 about the request's Idempotency-Key (inference and withdrawals); `final` as in ApiError. */
export function idempotencyConflict(message: string, final: boolean): ApiError {
	return new ApiError("idempotency_conflict", message, { param: "Idempotency-Key", final });
}

/** "messages[0].role" from a zod issue path. */
export function paramName(path: ReadonlyArray<PropertyKey>): string | null {
	let name = "";
	for (const part of path) {
		if (typeof part === "number") name += `[${part}]`;
		else name += name ? `.${String(part)}` : String(part);
	}
	return name || null;
}

/** A 400 for the first failed zod issue, naming the field as OpenAI does in `param`. */
export function validationError(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): ApiError {
	const issue = issues[0];
	const param = issue ? paramName(issue.path) : null;
	const message = `Invalid ${param ? `'${param}'` : "request body"}: ${issue?.message ?? "invalid value"}`;
	return new ApiError("invalid_request", message, { param });
}
