// `npm run deploy` stops before it touches the account when the Workers' vars are still the
// local stack's (scripts/deploy-checks.ts): anvil's chain id, a local RPC, no contract addresses.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type DeployedVars, deployProblems } from "../../scripts/deploy-checks.ts";
import { ROOT } from "./helpers.ts";

/** As scripts/deploy-contracts.ts writes it (the fields the indexer and settler read). */
const ADDRESSES = JSON.stringify({
	chainId: 8453,
	startBlock: 100,
	paca: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
	revenueVault: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
	modelFactory: "0x9fE46736679d2D9a65F0992F3f2C9bE2fCfa23f3",
});

/** The three Workers' vars as a real deployment on Base (chain 8453) sets them. */
function deployable(): DeployedVars[] {
	return [
		{ name: "gateway", config: "wrangler.toml", vars: { CHAIN_ID: "8453" } },
		{
			name: "indexer",
			config: "workers/indexer/wrangler.toml",
			vars: { CHAIN_ID: "8453", RPC_URL: "https://mainnet.base.org", CHAIN_ADDRESSES: ADDRESSES },
		},
		// RPC_URL moved to a secret (it embeds a provider key): not in the vars at all.
		{ name: "settler", config: "workers/settler/wrangler.toml", vars: { CHAIN_ID: "8453", CHAIN_ADDRESSES: ADDRESSES } },
	];
}

describe("deployProblems", () => {
	it("finds nothing wrong with a deployment's vars", () => {
		expect(deployProblems(deployable(), { allowLocalChain: false })).toEqual([]);
	});

	it("names anvil's chain id, a local RPC and missing addresses, per config", () => {
		const workers = deployable();
		(workers[0] as DeployedVars).vars.CHAIN_ID = "31337";
		(workers[1] as DeployedVars).vars = { CHAIN_ID: "8453", RPC_URL: "http://127.0.0.1:8545", CHAIN_ADDRESSES: "{}" };
		const problems = deployProblems(workers, { allowLocalChain: false });
		expect(problems).toEqual([
			expect.stringMatching(/^workers\/indexer\/wrangler\.toml: CHAIN_ADDRESSES .*paca/s),
			expect.stringMatching(/^workers\/indexer\/wrangler\.toml: RPC_URL is http:\/\/127\.0\.0\.1:8545/),
			expect.stringMatching(/^wrangler\.toml: the chain is 31337/),
			expect.stringMatching(/^The Workers are not on one chain \(31337 in wrangler\.toml, 8453 in workers\/settler/),
		]);
	});

	it("takes the chain from CHAIN_ADDRESSES as the Workers do, and wants it to match", () => {
		// The settler without CHAIN_ID reads the JSON's chainId; the local stack's JSON pasted in is anvil's.
		const workers = deployable();
		(workers[2] as DeployedVars).vars = { CHAIN_ADDRESSES: ADDRESSES.replace("8453", "31337") };
		expect(deployProblems(workers, { allowLocalChain: false })).toEqual([
			expect.stringMatching(/^workers\/settler\/wrangler\.toml: the chain is 31337/),
			expect.stringMatching(/^The Workers are not on one chain/),
		]);
		// And with CHAIN_ID beside it, the two disagree (the Worker would refuse to run).
		(workers[2] as DeployedVars).vars.CHAIN_ID = "8453";
		expect(deployProblems(workers, { allowLocalChain: false })).toEqual([
			"workers/settler/wrangler.toml: CHAIN_ID 8453 but CHAIN_ADDRESSES is for chain 31337.",
		]);
	});

	it("accepts a CHAIN_ID written as a TOML number, and refuses CHAIN_ADDRESSES written as a table", () => {
		const workers = deployable();
		(workers[0] as DeployedVars).vars.CHAIN_ID = 8453;
		expect(deployProblems(workers, { allowLocalChain: false })).toEqual([]);
		(workers[1] as DeployedVars).vars.CHAIN_ADDRESSES = JSON.parse(ADDRESSES);
		expect(deployProblems(workers, { allowLocalChain: false })).toEqual([
			expect.stringMatching(/^workers\/indexer\/wrangler\.toml: CHAIN_ADDRESSES must be the JSON text/),
		]);
	});

	it("accepts the local chain with --allow-local-chain, and still wants one chain", () => {
		const local = ADDRESSES.replace("8453", "31337");
		const workers = deployable().map((w) => ({
			...w,
			vars: {
				...w.vars,
				CHAIN_ID: "31337",
				...(w.vars.RPC_URL ? { RPC_URL: "http://localhost:8545" } : {}),
				...(w.vars.CHAIN_ADDRESSES ? { CHAIN_ADDRESSES: local } : {}),
			},
		}));
		expect(deployProblems(workers, { allowLocalChain: true })).toEqual([]);
		(workers[0] as DeployedVars).vars.CHAIN_ID = "1";
		expect(deployProblems(workers, { allowLocalChain: true })).toEqual([
			expect.stringMatching(/^The Workers are not on one chain/),
		]);
	});

	it("refuses a chain id that is not a positive integer", () => {
		const workers = deployable();
		(workers[0] as DeployedVars).vars.CHAIN_ID = "base";
		expect(deployProblems(workers, { allowLocalChain: false })).toEqual([
			'wrangler.toml: CHAIN_ID must be a positive integer, not "base".',
		]);
	});
});

describe("npm run deploy", () => {
	it("stops with the repo's local vars before it touches the account, and says what to set", () => {
		const node = process.execPath;
		const result = spawnSync(node, [join(ROOT, "scripts", "deploy.ts")], {
			cwd: ROOT,
			encoding: "utf8",
			env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_API_TOKEN: "" },
			timeout: 60_000,
		});
		expect(result.status).toBe(1);
		expect(result.stderr).toContain("Not deploying: the Workers' vars are not set for a deployment.");
		expect(result.stderr).toContain("wrangler.toml: the chain is 31337");
		expect(result.stderr).toMatch(/workers\/settler\/wrangler\.toml: CHAIN_ADDRESSES .*paca/s);
		// Nothing of the account was asked for: no wrangler d1 call ran.
		expect(`${result.stdout}${result.stderr}`).not.toMatch(/D1 database|d1 list|Authentication|login/i);
	});
});
