// What `npm run deploy` checks in the three wrangler.toml files before it touches the
// account. The files in the repo are set up for the local stack (anvil's chain id 31337,
// an RPC on 127.0.0.1, no contract addresses), and a deployment with them would run: the
// gateway would accept sign-ins for the local chain only, the dashboard would tell every
// wallet to switch to it, and the indexer and settler would index and pay nothing.

/** A Worker's name and its `[vars]`, as wrangler reads them. */
export interface DeployedVars {
	name: string;
	config: string;
	vars: Record<string, unknown>;
}

/** anvil's (and Hardhat's) default chain id. */
export const LOCAL_CHAIN_ID = "31337";

const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "0.0.0.0", "[::1]"]);

/**
 * What is wrong with deploying these vars, one sentence each (none: go ahead). With
 * `allowLocalChain` (`--allow-local-chain`, for a deployment against a chain of one's
 * own), the local chain id and RPC are accepted; the rest is still checked.
 */
export function deployProblems(workers: DeployedVars[], opts: { allowLocalChain: boolean }): string[] {
	const problems: string[] = [];
	const chainIds = new Map<string, string[]>();
	for (const w of workers) {
		const chainId = w.vars.CHAIN_ID;
		if (chainId === undefined) continue;
		if (typeof chainId !== "string" || !/^[1-9][0-9]*$/.test(chainId)) {
			problems.push(`${w.config}: CHAIN_ID must be a positive integer, not ${JSON.stringify(chainId)}.`);
			continue;
		}
		chainIds.set(chainId, [...(chainIds.get(chainId) ?? []), w.config]);
		if (chainId === LOCAL_CHAIN_ID && !opts.allowLocalChain) {
			problems.push(
				`${w.config}: CHAIN_ID is ${LOCAL_CHAIN_ID}, the local anvil chain of \`npm start\`; set the chain your contracts are on.`,
			);
		}
	}
	if (chainIds.size > 1) {
		const listed = [...chainIds].map(([id, configs]) => `${id} in ${configs.join(", ")}`).join("; ");
		problems.push(`CHAIN_ID differs between the Workers (${listed}); all three must name the same chain.`);
	}
	for (const w of workers) {
		const rpc = w.vars.RPC_URL;
		if (typeof rpc === "string" && !opts.allowLocalChain && isLocal(rpc)) {
			problems.push(
				`${w.config}: RPC_URL is ${rpc}, which a deployed Worker cannot reach; set your chain's RPC (as a secret if it embeds a key).`,
			);
		}
		const addresses = w.vars.CHAIN_ADDRESSES;
		if (addresses !== undefined && !hasAddresses(addresses)) {
			problems.push(`${w.config}: CHAIN_ADDRESSES has no contract addresses; set the JSON scripts/deploy-contracts.ts wrote.`);
		}
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

function hasAddresses(value: unknown): boolean {
	try {
		const parsed: unknown = typeof value === "string" ? JSON.parse(value) : value;
		return typeof parsed === "object" && parsed !== null && Object.keys(parsed).length > 0;
	} catch {
		return false;
	}
}
