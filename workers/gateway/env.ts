import { z } from "zod";
import type { AccountLedger } from "../../durable-objects/account-ledger.ts";
import type { ModelMeter } from "../../durable-objects/model-meter.ts";
import { ChainIdVar } from "../../lib/chain/config.ts";
import { ApiError } from "./errors.ts";

// Bindings come from `wrangler types` (types/gateway-env.d.ts); the Durable Object
// namespaces are narrowed here so RPC calls are typed. Secrets are listed once, here.
export interface Secrets {
	/**
	 * Upstream API keys are Worker secrets whose *names* are stored per upstream
	 * (model_upstreams.api_key_secret), so any number of them can exist.
	 */
	[upstreamSecret: `UPSTREAM_KEY_${string}`]: string | undefined;
	/** Bearer token of the admin API (routes/admin.ts); without it the admin API refuses every call. */
	ADMIN_TOKEN?: string;
	/** HMAC key of account session tokens (session.ts); rotating it signs everyone out. */
	SESSION_SECRET?: string;
}

export type Env = Omit<
	GatewayEnv,
	| "MODEL_METER"
	| "ACCOUNT_LEDGER"
	| "CHAIN_ID"
	| "MAX_BODY_BYTES"
	| "KEY_REQUESTS_PER_MINUTE"
	| "KEY_TOKENS_PER_MINUTE"
	| "BATCH_MS"
	| "LEASE_IDLE_MS"
	| `UPSTREAM_${string}_TIMEOUT_MS`
> &
	Secrets & {
		MODEL_METER: DurableObjectNamespace<ModelMeter>;
		ACCOUNT_LEDGER: DurableObjectNamespace<AccountLedger>;
		/** The chain the contracts are on (EIP-155 id); the dashboard has wallets switch to it before writing. */
		CHAIN_ID?: string;
		MAX_BODY_BYTES?: string;
		KEY_REQUESTS_PER_MINUTE?: string;
		KEY_TOKENS_PER_MINUTE?: string;
		BATCH_MS?: string;
		LEASE_IDLE_MS?: string;
		UPSTREAM_HEADERS_TIMEOUT_MS?: string;
		UPSTREAM_FIRST_BYTE_TIMEOUT_MS?: string;
		UPSTREAM_TOTAL_TIMEOUT_MS?: string;
		UPSTREAM_CLIENT_GONE_TIMEOUT_MS?: string;
		/** Local stack only: the cron Workers' Jobs entrypoints (routes/jobs.ts). */
		JOBS_INDEXER?: { run(): Promise<unknown> };
		JOBS_SETTLER?: { run(): Promise<unknown> };
		/** Which binding serves "workers-ai" upstreams; AI unless set (tests bind a stand-in). */
		WORKERS_AI_BINDING?: string;
	};

const ConfigSchema = z.object({
	MAX_BODY_BYTES: z.coerce.number().int().positive().default(1_048_576),
	KEY_REQUESTS_PER_MINUTE: z.coerce.number().int().positive().default(600),
	KEY_TOKENS_PER_MINUTE: z.coerce.number().int().positive().default(200_000),
	BATCH_MS: z.coerce.number().int().nonnegative().default(200),
	LEASE_IDLE_MS: z.coerce.number().int().nonnegative().default(2_000),
	UPSTREAM_HEADERS_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
	UPSTREAM_FIRST_BYTE_TIMEOUT_MS: z.coerce.number().int().positive().default(20_000),
	UPSTREAM_TOTAL_TIMEOUT_MS: z.coerce.number().int().positive().default(300_000),
	// The runtime ends a request's work 30 s after its client disconnects.
	UPSTREAM_CLIENT_GONE_TIMEOUT_MS: z.coerce.number().int().positive().default(25_000),
});

export type Config = {
	maxBodyBytes: number;
	keyRequestsPerMinute: number;
	keyTokensPerMinute: number;
	batchMs: number;
	leaseIdleMs: number;
	timeouts: { headersMs: number; firstByteMs: number; totalMs: number };
	/** How long a request that outlives its client (Idempotency-Key, non-stream) still waits for its upstream. */
	clientGoneMs: number;
};

// An isolate sees the same env object on every request: parse it once, not per request.
const parsedConfigs = new WeakMap<Env, Config>();

/** The Worker's vars, parsed once per isolate; a bad value fails loudly with its name. */
export function readConfig(env: Env): Config {
	const cached = parsedConfigs.get(env);
	if (cached) return cached;
	const config = parseConfig(env);
	parsedConfigs.set(env, config);
	return config;
}

function parseConfig(env: Env): Config {
	const parsed = ConfigSchema.safeParse(env);
	if (!parsed.success) {
		throw new Error(`bad Worker configuration: ${z.prettifyError(parsed.error)}`);
	}
	const d = parsed.data;
	return {
		maxBodyBytes: d.MAX_BODY_BYTES,
		keyRequestsPerMinute: d.KEY_REQUESTS_PER_MINUTE,
		keyTokensPerMinute: d.KEY_TOKENS_PER_MINUTE,
		batchMs: d.BATCH_MS,
		leaseIdleMs: d.LEASE_IDLE_MS,
		timeouts: {
			headersMs: d.UPSTREAM_HEADERS_TIMEOUT_MS,
			firstByteMs: d.UPSTREAM_FIRST_BYTE_TIMEOUT_MS,
			totalMs: d.UPSTREAM_TOTAL_TIMEOUT_MS,
		},
		clientGoneMs: d.UPSTREAM_CLIENT_GONE_TIMEOUT_MS,
	};
}

/**
 * CHAIN_ID, the chain the contracts are on; null when unset. Read by the routes that depend
 * on it (GET /v1/chain, sign-in) rather than with the other settings: a bad value fails
 * those loudly (500, naming the var) without taking inference down with it.
 */
export function deploymentChainId(env: Env): number | null {
	if (env.CHAIN_ID === undefined) return null;
	const parsed = ChainIdVar.safeParse(env.CHAIN_ID);
	if (!parsed.success) {
		console.error(`bad Worker configuration: CHAIN_ID '${env.CHAIN_ID}' is not a chain id`);
		throw new ApiError(
			"internal_error",
			"The gateway's CHAIN_ID setting is not a chain id, so it cannot say which network Modeldex runs on; the operators are told.",
		);
	}
	return parsed.data;
}
