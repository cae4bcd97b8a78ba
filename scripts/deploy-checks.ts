// What `npm run deploy` checks in the three wrangler.toml files before it touches the
// account. The files in the repo are set up for the local stack (anvil's chain id 31337,
// an RPC on 127.0.0.1, no contract addresses), and a deployment with them would run: the
// gateway would accept sign-ins for the local chain only, the dashboard would tell every
// wallet to switch to it, and the indexer and settler would index and pay nothing.
// The indexer's and settler's chain vars are read with their own parser (readChainConfig),
// so what passes here is what they accept at their first run.

import { ChainIdVar, readChainConfig } from "../lib/chain/config.ts";

/** A Worker's name and its `[vars]`, as wrangler reads them. */
export interface DeployedVars {
	name: string;
	config: string;
	vars: Record<string, unknown>;
}

/** anvil's (and Hardhat's) default chain id. */
export const LOCAL_CHAIN_ID = 31337;

const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "0.0.0.0", "[::1]"]);
/** Stands in for an RPC_URL kept as a secret (not in the vars) while the rest is parsed. */
const SECRET_RPC = "https://rpc.secret.invalid";

/**
 * What is wrong with deploying these vars, one sentence each (none: go ahead). With
 * `allowLocalChain` (`--allow-local-chain`, for a deployment against a chain of one's
 * own), the local chain id and RPC are accepted; the rest is still checked.
 */
export function deployProblems(workers: DeployedVars[], opts: { allowLocalChain: boolean }): string[] {
	const problems: string[] = [];
	/** The chain each Worker will run on, as it will read it: config → chain id. */
	const chains = new Map<string, number>();
	for (const w of workers) {
		const vars = Object.fromEntries(Object.entries(w.vars).map(([k, v]) => [k, typeof v === "number" ? String(v) : v]));
		if (vars.CHAIN_ADDRESSES !== undefined) {
			// The indexer and the settler: their chain vars as they parse them at run time.
			if (typeof vars.CHAIN_ADDRESSES !== "string") {
				problems.push(`${w.config}: CHAIN_ADDRESSES must be the JSON text scripts/deploy-contracts.ts wrote, not a table.`);
				continue;
			}
			try {
				const chain = readChainConfig({ ...vars, RPC_URL: (vars.RPC_URL as string | undefined) ?? SECRET_RPC });
				chains.set(w.config, chain.chainId);
			} catch (err) {
				// zod's report is a line per issue ("✖ Invalid input … → at paca"): one line here.
				const message = (err as Error).message
					.replace(/^bad chain configuration: /, "")
					.replace(/\s*✖\s*/g, " ")
					.replace(/\s*\n\s*/g, " ");
				problems.push(`${w.config}: ${message}.`);
			}
		} else if (vars.CHAIN_ID !== undefined) {
			const chainId = ChainIdVar.safeParse(vars.CHAIN_ID);
			if (chainId.success) chains.set(w.config, chainId.data);
			else problems.push(`${w.config}: CHAIN_ID must be a positive integer, not ${JSON.stringify(vars.CHAIN_ID)}.`);
		}
		const rpc = vars.RPC_URL;
		if (typeof rpc === "string" && !opts.allowLocalChain && isLocal(rpc)) {
			problems.push(
				`${w.config}: RPC_URL is ${rpc}, which a deployed Worker cannot reach; set your chain's RPC (as a secret if it embeds a key).`,
			);
		}
	}
	for (const [config, chainId] of chains) {
		if (chainId === LOCAL_CHAIN_ID && !opts.allowLocalChain) {
			problems.push(
				`${config}: the chain is ${LOCAL_CHAIN_ID}, the local anvil chain of \`npm start\`; set the chain your contracts are on.`,
			);
		}
	}
	const ids = new Set(chains.values());
	if (ids.size > 1) {
		const listed = [...chains].map(([config, id]) => `${id} in ${config}`).join(", ");
		problems.push(`The Workers are not on one chain (${listed}): CHAIN_ID, and the chainId in CHAIN_ADDRESSES, must agree.`);
	}
	return problems;
}

function isLocal(url: string): boolean {
	try {
		return LOCAL_HOSTS.has(new URL(url).hostname);
	} catch {
		return false;
	}
}
