import { z } from "zod";
import type { LedgerService } from "../../durable-objects/account-ledger.ts";
import type { ChainEnvVars } from "../../lib/chain/config.ts";

// The settler's bindings (wrangler.toml; generated types in types/settler-env.d.ts),
// written out so the gateway's test project can type-check the Worker too.
export interface Secrets {
	/** Key of the account holding SETTLER_ROLE on RevenueVault: `wrangler secret put SETTLER_PRIVATE_KEY`. */
	SETTLER_PRIVATE_KEY?: string;
}

export type Env = ChainEnvVars &
	Secrets & {
		DB: D1Database;
		/** The payer ledgers, through the gateway's `Ledgers` entrypoint (a service binding). */
		LEDGERS: LedgerService;
		EPOCH_SECONDS?: string;
		SETTLE_GRACE_SECONDS?: string;
		REPLACE_AFTER_SECONDS?: string;
		RECEIPT_WAIT_MS?: string;
		SETTLE_MAX_MODELS?: string;
	};

const SettlerVars = z.object({
	EPOCH_SECONDS: z.coerce.number().int().positive().default(3600),
	/** Wait after an epoch ends before closing it, so the meters' batched usage has reached D1. */
	SETTLE_GRACE_SECONDS: z.coerce.number().int().nonnegative().default(120),
	/** A sent transaction still pending after this long is replaced with higher fees. */
	REPLACE_AFTER_SECONDS: z.coerce.number().int().positive().default(180),
	/** How long one run waits for a receipt before leaving the transaction to the next run. */
	RECEIPT_WAIT_MS: z.coerce.number().int().nonnegative().default(20_000),
	/**
	 * Models one settle pays at most; the rest of an epoch's models go into the next epoch
	 * closed. A settle costs ~50k gas plus ~35k per model (~48k on a model's first
	 * settlement; contracts/snapshots): 200 models stay near 10M, under the 2^24 (16.7M)
	 * per-transaction gas cap Ethereum clients enforce since Fusaka (EIP-7825).
	 */
	SETTLE_MAX_MODELS: z.coerce.number().int().positive().default(200),
});

export interface SettlerConfig {
	epochMs: number;
	graceMs: number;
	replaceAfterMs: number;
	receiptWaitMs: number;
	maxModels: number;
}

export function readSettlerConfig(env: Env): SettlerConfig {
	const parsed = SettlerVars.safeParse(env);
	if (!parsed.success) throw new Error(`bad settler configuration: ${z.prettifyError(parsed.error)}`);
	return {
		epochMs: parsed.data.EPOCH_SECONDS * 1000,
		graceMs: parsed.data.SETTLE_GRACE_SECONDS * 1000,
		replaceAfterMs: parsed.data.REPLACE_AFTER_SECONDS * 1000,
		receiptWaitMs: parsed.data.RECEIPT_WAIT_MS,
		maxModels: parsed.data.SETTLE_MAX_MODELS,
	};
}
