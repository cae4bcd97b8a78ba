// The three Workers of the project, for the scripts that act on all of them.
export interface WorkerConfig {
	name: string;
	config: string;
	envInterface: string;
	typesPath: string;
}

export const WORKERS: WorkerConfig[] = [
	{ name: "gateway", config: "wrangler.toml", envInterface: "GatewayEnv", typesPath: "types/gateway-env.d.ts" },
	{ name: "indexer", config: "workers/indexer/wrangler.toml", envInterface: "IndexerEnv", typesPath: "types/indexer-env.d.ts" },
	{ name: "settler", config: "workers/settler/wrangler.toml", envInterface: "SettlerEnv", typesPath: "types/settler-env.d.ts" },
];
