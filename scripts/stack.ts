// The whole Modeldex loop on one machine, offline: anvil with the contracts, the
// three Workers under `wrangler dev`, and an OpenAI-compatible upstream. `npm start`
// (scripts/dev.ts) runs it; the end-to-end test runs the same thing.
//
// Every process it starts is stopped by `stop()`. State lives under one folder
// (default .modeldex/): anvil's chain, the local D1 and Durable Objects, the deployed
// addresses, generated secrets and the demo key, so a second start resumes.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { basename, dirname, join, resolve } from "node:path";
import { type Address, concat, type Hex, keccak256, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { createSiweMessage } from "viem/siwe";
import { localPacaAbi, modelFactoryAbi, revenueVaultAbi } from "../lib/chain/abis.ts";
import { METER_FLUSH_DELAY_MS } from "../lib/meter-timing.ts";
import { type Addresses, connect, deployModeldex, foundryArtifact, readAddresses, writeAddresses } from "./deploy-contracts.ts";
import { run } from "./run.ts";
import { startStandInUpstream } from "./stand-in-upstream.ts";

// anvil's well-known development accounts (mnemonic "test test … junk"): never real money.
const DEV_ACCOUNTS = {
	deployer: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
	payer: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
	holder: "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
} as const satisfies Record<string, Hex>;

const DEMO_MODEL = {
	id: "modeldex/demo-chat",
	revision: "0000000000000000000000000000000000000000",
	name: "Modeldex demo chat",
	symbol: "DEMO",
	inputPricePer1M: parseEther("0.2"),
	outputPricePer1M: parseEther("0.6"),
};

export interface StackOptions {
	stateDir?: string;
	fresh?: boolean;
	gatewayPort?: number;
	anvilPort?: number;
	standInPort?: number;
	/** A real OpenAI-compatible upstream instead of the development stand-in. */
	upstreamUrl?: string;
	upstreamModel?: string;
	upstreamApiKey?: string;
	/** Seconds per settlement epoch (short locally so holders see revenue soon). */
	epochSeconds?: number;
	/** Fire the cron Workers on a timer (ms; 0 = never). */
	indexerEveryMs?: number;
	settlerEveryMs?: number;
	log?: (line: string) => void;
	/** Where child processes write (inherit for a person, ignore for a test). */
	childOutput?: "inherit" | "ignore";
}

export interface Stack {
	api: string;
	rpcUrl: string;
	addresses: Addresses;
	demo: { modelId: string; token: Address; sale: Address; apiKey: string; payer: Address; adminToken: string };
	runIndexer(): Promise<unknown>;
	runSettler(): Promise<void>;
	stop(): Promise<void>;
}

interface Secrets {
	adminToken: string;
	sessionSecret: string;
	apiKey?: string;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
	const log = options.log ?? ((line: string) => console.log(line));
	const state = resolve(options.stateDir ?? ".modeldex");
	const ports = {
		gateway: options.gatewayPort ?? 8787,
		anvil: options.anvilPort ?? 8545,
		standIn: options.standInPort ?? 8788,
	};
	// A port something else holds (another `npm start`, an anvil of one's own) must stop the
	// start here: anvil or wrangler would fail to bind it quietly, and the stack would then
	// deploy to, and route through, whatever answers there.
	await assertPortsFree([
		[ports.anvil, "anvil", "MODELDEX_RPC_PORT"],
		[ports.gateway, "the gateway", "MODELDEX_PORT"],
		...(options.upstreamUrl ? [] : [[ports.standIn, "the stand-in upstream", "STAND_IN_PORT"] as const]),
	]);
	if (options.fresh) await rm(state, { recursive: true, force: true });
	await mkdir(state, { recursive: true });
	const output = options.childOutput ?? "inherit";
	const registry = join(state, "dev-registry");
	const stops: Array<() => Promise<void> | void> = [];
	const timers: Array<ReturnType<typeof setInterval>> = [];
	const stop = async () => {
		for (const t of timers) clearInterval(t);
		for (const s of stops.reverse()) await s();
	};

	try {
		// ── Chain ──────────────────────────────────────────────────────────
		const rpcUrl = `http://127.0.0.1:${ports.anvil}`;
		const anvil = spawnTracked(
			"node_modules/.bin/anvil",
			["--port", String(ports.anvil), "--host", "127.0.0.1", "--state", join(state, "anvil-state.json"), "--silent"],
			output,
			registry,
		);
		stops.push(() => stopProcess(anvil));
		await waitFor(async () => (await rpc(rpcUrl, "eth_chainId")) !== null, "anvil", 20_000);
		log(`• anvil (local chain 31337): ${rpcUrl}`);

		// forge compiles what changed since the last build (nothing: about half a second), so a
		// `--fresh` start after a pull never deploys the contracts as they were. Not their tests
		// and scripts: the stack deploys from contracts/src alone.
		if (!existsSync("contracts/out/ModelFactory.sol")) log("• compiling the contracts (first start only)");
		await run("npm", ["run", "build:contracts", "--silent", "--", "--skip", "test", "--skip", "script"], {
			stdio: ["ignore", "ignore", "inherit"],
		});
		const epochSeconds = options.epochSeconds ?? 60;
		const addressesFile = join(state, "addresses.json");
		let addresses = existsSync(addressesFile) ? readAddresses(addressesFile) : null;
		if (!addresses || (await rpc(rpcUrl, "eth_getCode", [addresses.modelFactory, "latest"])) === "0x") {
			addresses = await deployModeldex({ rpcUrl, privateKey: DEV_ACCOUNTS.deployer, chainId: 31337, epochSeconds });
			writeAddresses(addresses, addressesFile);
			await writeFile(join(state, DEPLOYED_CODE_FILE), `${deployedCodeFingerprint()}\n`);
			log(`• contracts deployed (PACA stand-in, Uniswap V2, factory, vault): ${addressesFile}`);
		} else {
			log(`• contracts already deployed: ${addressesFile}`);
			const changed = await deployedCodeChanged(state, deployedCodeFingerprint());
			if (changed) log(changed);
		}
		const market = await ensureDemoMarket(rpcUrl, addresses);
		// Set-up transactions are mined at once; from now on a block a second, like a real
		// chain, so deposits gain the confirmations the indexer waits for.
		await rpc(rpcUrl, "evm_setIntervalMining", [1]);
		const payer = privateKeyToAccount(DEV_ACCOUNTS.payer).address;

		// ── Secrets and per-Worker vars ────────────────────────────────────
		const secretsFile = join(state, "secrets.json");
		const secrets: Secrets = existsSync(secretsFile)
			? JSON.parse(await readFile(secretsFile, "utf8"))
			: { adminToken: hex(24), sessionSecret: hex(32) };
		await writeJson(secretsFile, secrets);
		const chainVars = {
			RPC_URL: rpcUrl,
			CHAIN_ID: "31337",
			CHAIN_ADDRESSES: JSON.stringify(addresses),
			CONFIRMATIONS: "1",
		};
		const vars = {
			gateway: {
				// Served as GET /v1/chain: the dashboard has the wallet switch to it before a transaction.
				CHAIN_ID: chainVars.CHAIN_ID,
				ADMIN_TOKEN: secrets.adminToken,
				SESSION_SECRET: secrets.sessionSecret,
				...(options.upstreamApiKey ? { UPSTREAM_KEY_DEMO: options.upstreamApiKey } : {}),
			},
			indexer: chainVars,
			settler: {
				...chainVars,
				SETTLER_PRIVATE_KEY: DEV_ACCOUNTS.deployer,
				EPOCH_SECONDS: String(epochSeconds),
				// Past the meters' flush to D1, and the batches before it.
				SETTLE_GRACE_SECONDS: String(Math.ceil(METER_FLUSH_DELAY_MS / 1000) + 3),
				RECEIPT_WAIT_MS: "5000",
				// A local chain mines every second: a settle pending this long was dropped.
				REPLACE_AFTER_SECONDS: "20",
			},
		};

		// ── Upstream ───────────────────────────────────────────────────────
		let upstreamUrl = options.upstreamUrl;
		if (!upstreamUrl) {
			const standIn = await startStandInUpstream({ port: ports.standIn, tokenDelayMs: 30 });
			stops.push(() => standIn.close());
			upstreamUrl = standIn.url;
			log(`• development stand-in upstream (not a model): ${upstreamUrl}`);
		} else {
			log(`• upstream: ${upstreamUrl}`);
		}

		// ── Workers ────────────────────────────────────────────────────────
		const persist = join(state, "wrangler");
		await run("npx", ["wrangler", "d1", "migrations", "apply", "modeldex", "--local", "--persist-to", persist], {
			env: { CI: "true" },
			stdio: ["ignore", "ignore", "inherit"],
		});
		const dashboard = await dashboardBuild();
		if (dashboard !== "current") {
			log(
				dashboard === "none" ? "• building the dashboard (first start only)" : "• rebuilding the dashboard (its sources changed)",
			);
			await run("npm", ["run", "build:web", "--silent"], { stdio: ["ignore", "ignore", "inherit"] });
		}
		// One wrangler dev process runs the three Workers, so they share one workerd: one
		// local D1 (several processes on one SQLite file fail with SQLITE_BUSY) and in-process
		// service bindings. It serves only the first Worker over HTTP, so the gateway's
		// generated config binds the cron Workers' Jobs entrypoints (routes/jobs.ts), and the
		// crons are fired through the admin API.
		const configs = [
			await devConfig(state, "wrangler.toml", vars.gateway, [
				["JOBS_INDEXER", "modeldex-indexer", "IndexerJobs"],
				["JOBS_SETTLER", "modeldex-settler", "SettlerJobs"],
			]),
			await devConfig(state, "workers/indexer/wrangler.toml", vars.indexer),
			await devConfig(state, "workers/settler/wrangler.toml", vars.settler),
		];
		const workers = spawnTracked(
			"npx",
			[
				"wrangler",
				"dev",
				"--local",
				...configs.flatMap((c) => ["-c", c]),
				"--port",
				String(ports.gateway),
				"--ip",
				"127.0.0.1",
			].concat(["--persist-to", persist, "--show-interactive-dev-session=false", "--inspector-port", "0"]),
			output,
			registry,
		);
		stops.push(() => stopProcess(workers));
		const api = `http://127.0.0.1:${ports.gateway}`;
		await waitFor(async () => (await fetch(`${api}/v1/models`).catch(() => null))?.ok === true, "the Workers", 90_000);
		log(`• gateway, indexer and settler under wrangler dev: ${api} (local D1 in ${persist})`);

		const job = async (name: "indexer" | "settler") => {
			const res = await fetch(`${api}/v1/admin/jobs/${name}`, {
				method: "POST",
				headers: { authorization: `Bearer ${secrets.adminToken}` },
			});
			if (!res.ok) throw new Error(`${name} run failed: ${res.status} ${await res.text()}`);
			return res.json();
		};
		const runIndexer = () => job("indexer");
		const runSettler = async () => {
			await job("settler");
		};

		// ── Demo: the model routed to the upstream, the payer funded, a key ──
		await waitFor(
			async () => {
				await runIndexer();
				return (await fetch(`${api}/v1/models/${DEMO_MODEL.id}`)).ok;
			},
			"the indexer to see the demo model",
			30_000,
		);
		await registerUpstream(
			api,
			secrets.adminToken,
			upstreamUrl,
			options.upstreamModel ?? "stand-in",
			Boolean(options.upstreamApiKey),
		);
		const session = await signIn(api, DEV_ACCOUNTS.payer);
		if (!secrets.apiKey) {
			secrets.apiKey = await createKey(api, session);
			await writeJson(secretsFile, secrets);
		}
		// The deposit is credited once it has its confirmation.
		await waitFor(
			async () => {
				await runIndexer();
				const account = (await (
					await fetch(`${api}/v1/account`, { headers: { authorization: `Bearer ${session}` } })
				).json()) as {
					total_credited?: string;
				};
				return BigInt(account.total_credited ?? "0") > 0n;
			},
			"the indexer to credit the demo deposit",
			30_000,
		);
		await writeJson(join(state, "wallet.json"), { privateKey: DEV_ACCOUNTS.payer });

		if (options.indexerEveryMs !== 0)
			timers.push(setInterval(() => void runIndexer().catch(() => {}), options.indexerEveryMs ?? 5_000));
		if (options.settlerEveryMs !== 0)
			timers.push(setInterval(() => void runSettler().catch(() => {}), options.settlerEveryMs ?? 15_000));

		return {
			api,
			rpcUrl,
			addresses,
			demo: { modelId: DEMO_MODEL.id, ...market, apiKey: secrets.apiKey, payer, adminToken: secrets.adminToken },
			runIndexer,
			runSettler,
			stop,
		};
	} catch (err) {
		await stop();
		throw err;
	}
}

/** Tokenizes the demo model once and funds the demo payer's credit in the vault. */
async function ensureDemoMarket(rpcUrl: string, addresses: Addresses): Promise<{ token: Address; sale: Address }> {
	const deployer = await connect(rpcUrl, DEV_ACCOUNTS.deployer, 31337);
	const read = deployer.publicClient;
	/** The demo model's token and sale from its ModelTokenized event, or null before it is tokenized. */
	const findDemo = async (): Promise<{ token: Address; sale: Address } | null> => {
		const events = await read.getContractEvents({
			address: addresses.modelFactory,
			abi: modelFactoryAbi,
			eventName: "ModelTokenized",
			fromBlock: 0n,
		});
		const found = events.find((e) => (e.args.params as { repoId?: string } | undefined)?.repoId === DEMO_MODEL.id);
		return found ? { token: found.args.token as Address, sale: found.args.sale as Address } : null;
	};
	const existing = await findDemo();
	if (existing) return existing;

	const tx = await deployer.walletClient.writeContract({
		address: addresses.modelFactory,
		abi: modelFactoryAbi,
		functionName: "tokenize",
		args: [
			{
				repoId: DEMO_MODEL.id,
				revision: DEMO_MODEL.revision,
				name: DEMO_MODEL.name,
				symbol: DEMO_MODEL.symbol,
				metadataURI: "data:application/json,{}",
				inputPricePer1M: DEMO_MODEL.inputPricePer1M,
				outputPricePer1M: DEMO_MODEL.outputPricePer1M,
				creator: "0x0000000000000000000000000000000000000000",
			},
		],
	});
	await read.waitForTransactionReceipt({ hash: tx });

	const payer = await connect(rpcUrl, DEV_ACCOUNTS.payer, 31337);
	const amount = parseEther("1000");
	for (const [client, call] of [
		[deployer, { address: addresses.paca, abi: localPacaAbi, functionName: "faucet", args: [payer.account.address, amount] }],
		[payer, { address: addresses.paca, abi: localPacaAbi, functionName: "approve", args: [addresses.revenueVault, amount] }],
		[
			payer,
			{ address: addresses.revenueVault, abi: revenueVaultAbi, functionName: "deposit", args: [payer.account.address, amount] },
		],
	] as const) {
		const hash = await client.walletClient.writeContract(call as Parameters<typeof client.walletClient.writeContract>[0]);
		await read.waitForTransactionReceipt({ hash });
	}
	const made = await findDemo();
	if (!made) throw new Error("the demo model's ModelTokenized event is missing");
	return made;
}

/** Points the demo model (created by the indexer from ModelTokenized) at the upstream. */
async function registerUpstream(api: string, adminToken: string, baseUrl: string, upstreamModel: string, withKey: boolean) {
	const headers = { authorization: `Bearer ${adminToken}`, "content-type": "application/json" };
	const path = `${api}/v1/admin/models/${DEMO_MODEL.id}`;
	const current = (await (await fetch(path, { headers })).json()) as Record<string, unknown>;
	const body = {
		display_name: current.display_name ?? DEMO_MODEL.name,
		input_price_per_m: current.input_price_per_m ?? DEMO_MODEL.inputPricePer1M.toString(),
		output_price_per_m: current.output_price_per_m ?? DEMO_MODEL.outputPricePer1M.toString(),
		max_output_tokens: current.max_output_tokens ?? 4096,
		hf_repo: current.hf_repo ?? null,
		hf_revision: current.hf_revision ?? null,
		token_address: current.token_address ?? null,
		upstreams: [
			{
				kind: "openai",
				base_url: baseUrl,
				upstream_model: upstreamModel,
				...(withKey ? { api_key_secret: "UPSTREAM_KEY_DEMO" } : {}),
			},
		],
	};
	const res = await fetch(path, { method: "PUT", headers, body: JSON.stringify(body) });
	if (!res.ok) throw new Error(`registering the demo upstream failed: ${res.status} ${await res.text()}`);
}

/** Sign-In with Ethereum, exactly as a wallet does it. */
async function signIn(api: string, privateKey: Hex): Promise<string> {
	const account = privateKeyToAccount(privateKey);
	const { nonce } = (await (await fetch(`${api}/v1/auth/nonce`)).json()) as { nonce: string };
	const url = new URL(api);
	const message = createSiweMessage({
		address: account.address,
		chainId: 31337,
		domain: url.host,
		nonce,
		uri: api,
		version: "1",
	});
	const signature = await account.signMessage({ message });
	const res = await fetch(`${api}/v1/auth/verify`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({ message, signature }),
	});
	if (!res.ok) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`);
	return ((await res.json()) as { token: string }).token;
}

async function createKey(api: string, session: string, name = "demo"): Promise<string> {
	const res = await fetch(`${api}/v1/account/keys`, {
		method: "POST",
		headers: { authorization: `Bearer ${session}`, "content-type": "application/json" },
		body: JSON.stringify({ name }),
	});
	if (!res.ok) throw new Error(`creating an API key failed: ${res.status} ${await res.text()}`);
	return ((await res.json()) as { key: string }).key;
}

// ── Process and file helpers ────────────────────────────────────────────────

function spawnTracked(command: string, args: string[], output: "inherit" | "ignore", registry: string): ChildProcess {
	return spawn(command, args, {
		stdio: ["ignore", output, output],
		detached: true,
		// A dev registry of our own: the cron Workers' binding to "modeldex-gateway" must find
		// this stack's gateway, not one some other wrangler dev on the machine registered.
		env: {
			...process.env,
			WRANGLER_SEND_METRICS: "false",
			CI: "true",
			WRANGLER_REGISTRY_PATH: registry,
			WRANGLER_CI_DISABLE_CONFIG_WATCHING: "true",
		},
	});
}

async function stopProcess(child: ChildProcess): Promise<void> {
	if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
	const exited = new Promise<void>((r) => child.once("exit", () => r()));
	try {
		process.kill(-child.pid, "SIGTERM");
	} catch {
		return;
	}
	const timeout = new Promise<void>((r) => setTimeout(r, 5_000));
	await Promise.race([exited, timeout]);
	if (child.exitCode === null && child.signalCode === null) {
		try {
			process.kill(-child.pid, "SIGKILL");
		} catch {
			// already gone
		}
	}
}

/** Throws, naming each port's use and the variable that moves it, when a port is taken or invalid. */
export async function assertPortsFree(ports: ReadonlyArray<readonly [number, string, string]>): Promise<void> {
	const problems: string[] = [];
	for (const [port, what, variable] of ports) {
		if (!Number.isInteger(port) || port < 1 || port > 65_535) {
			problems.push(`${variable}: '${port}' is not a port number (1-65535) for ${what}`);
			continue;
		}
		const error = await new Promise<NodeJS.ErrnoException | null>((done) => {
			const server = createServer();
			server.once("error", (e: NodeJS.ErrnoException) => done(e));
			server.listen(port, "127.0.0.1", () => server.close(() => done(null)));
		});
		if (error)
			problems.push(
				error.code === "EADDRINUSE"
					? `port ${port} (${what}) is already in use: another \`npm start\`, or a server of your own? Stop it, or set ${variable} to a free port`
					: `port ${port} (${what}) cannot be used (${error.code ?? error.message}); set ${variable} to another`,
			);
	}
	if (problems.length > 0) throw new Error(`cannot start: ${problems.join("; ")}. Nothing was started.`);
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		try {
			if (await check()) return;
		} catch {
			// not up yet
		}
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 250));
	}
}

async function rpc(url: string, method: string, params: unknown[] = []): Promise<unknown> {
	try {
		const res = await fetch(url, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
		});
		return ((await res.json()) as { result?: unknown }).result ?? null;
	} catch {
		return null;
	}
}

/**
 * A copy of a Worker's wrangler.toml for this stack: paths made absolute, `vars` set
 * (secrets included: the file is local state, mode 0600), and extra service bindings.
 */
async function devConfig(
	state: string,
	source: string,
	vars: Record<string, string>,
	services: Array<[binding: string, service: string, entrypoint: string]> = [],
): Promise<string> {
	const dir = dirname(resolve(source));
	let text = await readFile(source, "utf8");
	text = text.replace(
		/^(main|migrations_dir|directory) = "([^"]+)"$/gm,
		(_, key, path) => `${key} = ${JSON.stringify(resolve(dir, path))}`,
	);
	const keys = new Set(Object.keys(vars));
	text = text
		.split("\n")
		.filter((line) => !keys.has(line.split("=")[0]?.trim() ?? ""))
		.join("\n");
	const assigned = Object.entries(vars).map(([k, v]) => `${k} = ${JSON.stringify(v)}`);
	text = text.includes("[vars]\n")
		? text.replace("[vars]\n", `[vars]\n${assigned.join("\n")}\n`)
		: `${text}\n[vars]\n${assigned.join("\n")}\n`;
	for (const [binding, service, entrypoint] of services) {
		text += `\n[[services]]\nbinding = "${binding}"\nservice = "${service}"\nentrypoint = "${entrypoint}"\n`;
	}
	const file = join(state, `${basename(dir === resolve(".") ? "gateway" : dir)}.wrangler.toml`);
	await writeFile(file, text, { mode: 0o600 });
	return file;
}

async function writeJson(file: string, value: unknown): Promise<void> {
	await writeFile(file, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
}

function hex(bytes: number): string {
	return randomBytes(bytes).toString("hex");
}

/** What goes into the dashboard's build: its files, the ABIs it imports, and its dependencies' versions. */
const DASHBOARD_SOURCES = [
	"web/src",
	"web/public",
	"web/index.html",
	"web/vite.config.ts",
	"lib/chain/abis.ts",
	"package-lock.json",
];

/**
 * Whether web/dist is there and built after every change to the dashboard's sources: a
 * `git pull` must not leave `npm start` serving the dashboard as it was.
 */
export async function dashboardBuild(root = "."): Promise<"none" | "stale" | "current"> {
	const built = await stat(join(root, "web/dist/index.html")).catch(() => null);
	if (!built) return "none";
	for (const source of DASHBOARD_SOURCES) {
		if ((await newestChange(join(root, source))) > built.mtimeMs) return "stale";
	}
	return "current";
}

/** The newest modification time of a file, or of any file under a folder (0 if there is none). */
async function newestChange(path: string): Promise<number> {
	const info = await stat(path).catch(() => null);
	if (!info) return 0;
	if (!info.isDirectory()) return info.mtimeMs;
	let newest = 0;
	for (const entry of await readdir(path, { recursive: true, withFileTypes: true })) {
		if (!entry.isFile()) continue;
		const { mtimeMs } = await stat(join(entry.parentPath, entry.name));
		if (mtimeMs > newest) newest = mtimeMs;
	}
	return newest;
}

/** In the state folder: the fingerprint of the bytecode its chain's contracts were deployed from. */
const DEPLOYED_CODE_FILE = "deployed-code.txt";

/** The bytecode `npm start` deploys, from contracts/out (the factory's embeds the token's and the sale's). */
export function deployedCodeFingerprint(read = (name: string) => foundryArtifact(name).bytecode): Hex {
	return keccak256(concat(["LocalPaca", "RevenueVault", "ModelFactory"].map(read)));
}

/**
 * A warning when the contracts compiled now are not those this state's chain runs (a pull changed
 * them since it was deployed): the stack would go on with the old contracts under the new ABIs.
 * Null when they are the same, or the state is from before fingerprints were kept.
 */
export async function deployedCodeChanged(state: string, current: Hex): Promise<string | null> {
	const deployed = (await readFile(join(state, DEPLOYED_CODE_FILE), "utf8").catch(() => "")).trim();
	if (deployed === "" || deployed === current) return null;
	return "• the contracts changed since this chain's were deployed: it still runs the old ones; `npm start -- --fresh` deploys the new (and starts the chain and D1 anew)";
}
