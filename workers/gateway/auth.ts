import { createMiddleware } from "hono/factory";
import { findActiveKey } from "../../lib/db/api-keys.ts";
import { parseApiKey } from "../../lib/keys.ts";
import type { AppEnv } from "./app.ts";
import { ApiError } from "./errors.ts";

/** Bearer-key authentication: sets `caller` or answers 401 in OpenAI's format. */
export const requireApiKey = createMiddleware<AppEnv>(async (c, next) => {
	const header = c.req.header("authorization");
	if (!header) {
		throw new ApiError(
			"invalid_api_key",
			"You didn't provide an API key. Send it in the Authorization header as 'Bearer mdx_...'.",
		);
	}
	const token = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
	const parsed = token ? parseApiKey(token) : null;
	if (!parsed) {
		throw new ApiError("invalid_api_key", "Malformed API key: expected 'Authorization: Bearer mdx_<payer>_<secret>'.");
	}
	const record = await findActiveKey(c.get("db"), parsed.key);
	if (!record) throw new ApiError("invalid_api_key", `Incorrect API key provided: ${parsed.key.slice(0, 14)}…`);
	c.set("caller", { keyId: record.id, payer: record.payer });
	await next();
});
