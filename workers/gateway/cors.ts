// CORS for browser apps on other origins (the `openai` client with dangerouslyAllowBrowser,
// plain fetch). No credentials mode: API keys and session tokens travel in the Authorization
// header, never in cookies, so `*` lets a page call the API only with a key it already holds.
// The admin API stays out: no operator tool runs in a browser on another origin, so its
// responses carry no CORS headers and a browser refuses them (its preflight is a 401).

/** What a client reads off a response; content-type and cache-control are readable anyway. */
const EXPOSED_HEADERS = "x-request-id, idempotent-replayed, retry-after, x-should-retry";
const ALLOWED_METHODS = "GET, POST, DELETE, OPTIONS";
/** When the preflight names none: what this API reads, and what the openai SDK sends. */
const DEFAULT_ALLOWED_HEADERS =
	"Authorization, Content-Type, Idempotency-Key, OpenAI-Organization, OpenAI-Project, X-Stainless-Lang, X-Stainless-Package-Version, X-Stainless-OS, X-Stainless-Arch, X-Stainless-Runtime, X-Stainless-Runtime-Version, X-Stainless-Retry-Count, X-Stainless-Timeout, X-Stainless-Helper-Method";
/** A day; browsers cap it lower (Chromium at 2 hours). */
const MAX_AGE_SECONDS = "86400";

/**
 * The paths browsers on other origins may call: the API, less the admin API, and its OpenAPI
 * document (API tools in the browser, such as an editor or a client generator, read it).
 */
export function allowsCrossOrigin(path: string): boolean {
	if (path === "/openapi.json") return true;
	return path.startsWith("/v1/") && !path.startsWith("/v1/admin/") && path !== "/v1/admin";
}

/**
 * Adds the CORS headers to a response the gateway built (its headers are mutable). Set in
 * place, not through Hono's `c.header`, which copies a finished response to change it.
 */
export function addCorsHeaders(headers: Headers): void {
	headers.set("access-control-allow-origin", "*");
	headers.set("access-control-expose-headers", EXPOSED_HEADERS);
}

/**
 * The answer to a preflight: any header the request names is allowed (the SDK's
 * `x-stainless-*` set changes between versions), so the preflight echoes them. It needs no
 * key, and reaches no ledger, meter or upstream.
 */
export function preflight(request: Request, requestId: string): Response {
	const asked = request.headers.get("access-control-request-headers");
	const headers = new Headers({
		"access-control-allow-methods": ALLOWED_METHODS,
		"access-control-allow-headers": asked || DEFAULT_ALLOWED_HEADERS,
		"access-control-max-age": MAX_AGE_SECONDS,
		// The allowed headers follow the request's: a cache must not give one preflight's answer to another.
		vary: "Access-Control-Request-Headers",
		"x-request-id": requestId,
	});
	addCorsHeaders(headers);
	return new Response(null, { status: 204, headers });
}
