import { z } from "zod";
import type { AccountLedger } from "../../durable-objects/account-ledger.ts";
import type { ModelMeter } from "../../durable-objects/model-meter.ts";

// Bindings come from `wrangler types` (types/gateway-env.d.ts); the Durable Object
// namespaces are narrowed here so RPC calls are typed. Secrets are listed once, here.
export interface Secrets {
	/**
	 * Upstream API keys are Worker secrets whose *names* are stored per upstream
	 * (model_upstreams.api_key_secret), so any number of them can exist.
	 */
	[upstreamSecret: `UPSTREAM_KEY_${string}`]: string | undefined;
}

export type Env = Omit<GatewayEnv, "MODEL_METER" | "ACCOUNT_LEDGER" | "MAX_BODY_BYTES" | "KEY_TOKENS_PER_MINUTE"> &
	Secrets & {
		MODEL_METER: DurableObjectNamespace<ModelMeter>;
		ACCOUNT_LEDGER: DurableObjectNamespace<AccountLedger>;
		MAX_BODY_BYTES?: string;
		KEY_TOKENS_PER_MINUTE?: string;
	};

const ConfigSchema = z.object({
	MAX_BODY_BYTES: z.coerce.number().int().positive().default(1_048_576),
	KEY_TOKENS_PER_MINUTE: z.coerce.number().int().positive().default(200_000),
});

export type Config = { maxBodyBytes: number; keyTokensPerMinute: number };

/** Parses the Worker's vars once per isolate; a bad value fails loudly with its name. */
export function readConfig(env: Env): Config {
	const parsed = ConfigSchema.safeParse(env);
	if (!parsed.success) {
		throw new Error(`bad Worker configuration: ${z.prettifyError(parsed.error)}`);
	}
	return { maxBodyBytes: parsed.data.MAX_BODY_BYTES, keyTokensPerMinute: parsed.data.KEY_TOKENS_PER_MINUTE };
}
