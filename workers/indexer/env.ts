import type { LedgerService } from "../../durable-objects/account-ledger.ts";
import type { ChainEnvVars } from "../../lib/chain/config.ts";

// The indexer's bindings (wrangler.toml; generated types in types/indexer-env.d.ts).
// Written out rather than derived from the generated IndexerEnv so the gateway's
// test project, which calls this Worker in-process, can type-check it too. Payer
// ledgers are reached through the gateway's `Ledgers` entrypoint (a service binding).
export type Env = ChainEnvVars & {
	/** Secret: bearer token of POST /run (`wrangler secret put RUN_TOKEN`); without it /run refuses every call. */
	RUN_TOKEN?: string;
	DB: D1Database;
	LEDGERS: LedgerService;
};
