// `npm run deploy`: Modeldex to Cloudflare with wrangler.
//   1. finds the D1 database `modeldex` in the account, or creates it, and writes its
//      id into the three wrangler.toml files (all Workers share it);
//   2. applies migrations/ to it remotely;
//   3. builds the dashboard and deploys the gateway (with its Durable Objects and the
//      Ledgers entrypoint the others bind), then the indexer and the settler;
//   4. lists the secrets each Worker still needs.
// `npm run deploy -- --dry-run` bundles everything without touching the account.
// Before anything, the configs' vars are checked (scripts/deploy-checks.ts): the repo's are
// the local stack's, and a deployment with them would not work. A dry run only warns.
// `--allow-local-chain` accepts anvil's chain id and a local RPC (a chain of one's own).
import { execFileSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { unstable_readConfig } from "wrangler";
import { deployProblems } from "./deploy-checks.ts";
import { run } from "./run.ts";
import { WORKERS } from "./workers.ts";

const dryRun = process.argv.includes("--dry-run");
const DB_NAME = "modeldex";

const SECRETS: Record<string, string[]> = {
	gateway: [
		"CHAIN_ID var: the chain the contracts are on, the indexer's CHAIN_ID (wrangler.toml; the dashboard checks wallets against it)",
		"ADMIN_TOKEN (bearer token for /v1/admin/*)",
		"SESSION_SECRET (HMAC key for SIWE session tokens, 32+ random bytes)",
		"UPSTREAM_KEY_<NAME> (one per upstream that needs a bearer key; the model's upstream names it)",
	],
	indexer: [
		"CHAIN_ADDRESSES var: the JSON scripts/deploy-contracts.ts wrote (set it in workers/indexer/wrangler.toml)",
		"RUN_TOKEN (optional: bearer token of POST /run, to index at once)",
		"RPC_URL if it embeds a provider key (remove it from [vars] first)",
	],
	settler: [
		"CHAIN_ADDRESSES var: the same JSON (workers/settler/wrangler.toml)",
		"SETTLER_PRIVATE_KEY (the account holding RevenueVault's SETTLER_ROLE)",
		"RPC_URL if it embeds a provider key (remove it from [vars] first)",
	],
};

function wrangler(args: string[]): string {
	return execFileSync("npx", ["wrangler", ...args], {
		encoding: "utf8",
		env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
	});
}

async function databaseId(): Promise<string> {
	const list = JSON.parse(wrangler(["d1", "list", "--json"])) as Array<{ name: string; uuid: string }>;
	const existing = list.find((d) => d.name === DB_NAME);
	if (existing) {
		console.log(`• D1 database ${DB_NAME} exists: ${existing.uuid}`);
		return existing.uuid;
	}
	const created = wrangler(["d1", "create", DB_NAME]);
	const id = /database_id\s*=\s*"([0-9a-f-]{36})"/.exec(created)?.[1] ?? /"database_id":\s*"([0-9a-f-]{36})"/.exec(created)?.[1];
	if (!id) throw new Error(`could not read the new database id from wrangler's output:\n${created}`);
	console.log(`• created D1 database ${DB_NAME}: ${id}`);
	return id;
}

async function pinDatabaseId(id: string): Promise<void> {
	for (const w of WORKERS) {
		const text = await readFile(w.config, "utf8");
		const next = text.replace(/database_id = "[^"]*"/, `database_id = "${id}"`);
		if (next !== text) {
			await writeFile(w.config, next);
			console.log(`  wrote database_id into ${w.config} (commit it)`);
		}
	}
}

const problems = deployProblems(
	WORKERS.map((w) => ({ name: w.name, config: w.config, vars: unstable_readConfig({ config: w.config }).vars ?? {} })),
	{ allowLocalChain: process.argv.includes("--allow-local-chain") },
);
if (problems.length > 0) {
	const list = problems.map((p) => `  - ${p}`).join("\n");
	if (!dryRun) {
		console.error(`Not deploying: the Workers' vars are not set for a deployment.\n${list}`);
		process.exit(1);
	}
	console.warn(`(dry run) a deployment would stop here until these are set:\n${list}`);
}

if (!dryRun) {
	await pinDatabaseId(await databaseId());
	await run("npx", ["wrangler", "d1", "migrations", "apply", DB_NAME, "--remote"], { env: { CI: "true" } });
}
await run("npm", ["run", "build:web", "--if-present"]);
for (const w of WORKERS) {
	console.log(`\n• ${dryRun ? "bundling" : "deploying"} ${w.name} (${w.config})`);
	await run("npx", [
		"wrangler",
		"deploy",
		"-c",
		w.config,
		...(dryRun ? ["--dry-run", "--outdir", resolve(".modeldex", "dry-run", w.name)] : []),
	]);
}

console.log("\nSecrets to set (npx wrangler secret put NAME -c <config>):");
for (const w of WORKERS) {
	for (const secret of SECRETS[w.name] ?? []) console.log(`  ${w.name.padEnd(8)} ${secret}`);
}
