import type { D1Migration } from "cloudflare:test";
import type { Env } from "../workers/gateway/env.ts";

// Bindings only the tests have (see vitest.config.ts).
declare global {
	namespace Cloudflare {
		interface Env {
			TEST_MIGRATIONS: D1Migration[];
			STAND_IN_URL: string;
		}
	}
	type TestEnv = Env & Cloudflare.Env;
}
