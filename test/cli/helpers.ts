// What the CLI tests start for themselves: anvil with the contracts deployed, a Hugging Face
// stand-in serving recorded-shape API answers, the gateway under `wrangler dev`, and the CLI
// itself as a child process (exit code, stdout, stderr), as a user would run it.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createPublicClient, type Hex, http } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { type Addresses, deployModeldex, writeAddresses } from "../../scripts/deploy-contracts.ts";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CLI = join(ROOT, "cli", "modeldex.ts");
const BIN = join(ROOT, "node_modules", ".bin");

const MNEMONIC = "test test test test test test test test test test test junk";
export const anvilAccount = (index: number) => mnemonicToAccount(MNEMONIC, { addressIndex: index });
export function anvilKey(index: number): Hex {
	const key = anvilAccount(index).getHdKey().privateKey;
	if (!key) throw new Error("no private key");
	return `0x${Buffer.from(key).toString("hex")}`;
}

export function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.unref();
		server.on("error", reject);
		server.listen(0, "127.0.0.1", () => {
			const { port } = server.address() as AddressInfo;
			server.close(() => resolve(port));
		});
	});
}

export function tempDir(prefix: string): { path: string; remove(): void } {
	const path = mkdtempSync(join(tmpdir(), `modeldex-${prefix}-`));
	return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Thrown by an `until` probe to end the wait at once (any other error counts as "not yet"). */
class StopWaiting extends Error {}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	let last: unknown;
	while (Date.now() < deadline) {
		try {
			const value = await probe();
			if (value !== undefined) return value;
		} catch (error) {
			if (error instanceof StopWaiting) throw error;
			last = error;
		}
		await new Promise((r) => setTimeout(r, 150));
	}
	throw new Error(`${what} not ready after ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ""}`);
}

function stopGroup(child: ChildProcess): void {
	if (child.pid && child.exitCode === null && child.signalCode === null) {
		try {
			process.kill(-child.pid, "SIGTERM");
		} catch {
			child.kill("SIGTERM");
		}
	}
}

// ── The CLI ─────────────────────────────────────────────────────────────────

export interface CliResult {
	code: number | null;
	stdout: string;
	stderr: string;
	json<T = Record<string, unknown>>(): T;
}

/** Environment for the CLI: only what a user's shell would have plus `env`; no MODELDEX_* leaks in. */
export function cliEnv(env: Record<string, string | undefined>): Record<string, string> {
	const base: Record<string, string> = {};
	for (const name of ["PATH", "HOME", "TMPDIR", "LANG", "SYSTEMROOT"]) {
		const value = process.env[name];
		if (value !== undefined) base[name] = value;
	}
	for (const [k, v] of Object.entries(env)) if (v !== undefined) base[k] = v;
	return base;
}

export function runCli(
	args: string[],
	opts: { cwd: string; env?: Record<string, string | undefined>; timeoutMs?: number },
): Promise<CliResult> {
	return new Promise((resolve, reject) => {
		const child = spawn(process.execPath, [CLI, ...args], {
			cwd: opts.cwd,
			env: cliEnv(opts.env ?? {}),
			stdio: ["ignore", "pipe", "pipe"],
		});
		let stdout = "";
		let stderr = "";
		child.stdout.on("data", (d) => (stdout += d));
		child.stderr.on("data", (d) => (stderr += d));
		const timer = setTimeout(() => {
			child.kill("SIGKILL");
			reject(
				new Error(
					`modeldex ${args.join(" ")} did not finish in ${opts.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
				),
			);
		}, opts.timeoutMs ?? 60_000);
		child.on("error", reject);
		child.on("close", (code) => {
			clearTimeout(timer);
			resolve({
				code,
				stdout,
				stderr,
				json<T>() {
					try {
						return JSON.parse(stdout) as T;
					} catch {
						throw new Error(`modeldex ${args.join(" ")}: stdout is not JSON\nstdout: ${stdout}\nstderr: ${stderr}`);
					}
				},
			});
		});
	});
}

/** A long-running CLI (stats --watch): lines as they come, and a way to stop it like Ctrl-C. */
export function spawnCli(args: string[], opts: { cwd: string; env?: Record<string, string | undefined> }) {
	const child = spawn(process.execPath, [CLI, ...args], {
		cwd: opts.cwd,
		env: cliEnv(opts.env ?? {}),
		stdio: ["ignore", "pipe", "pipe"],
	});
	let stdout = "";
	let stderr = "";
	const waiters: Array<() => void> = [];
	child.stdout.on("data", (d) => {
		stdout += d;
		for (const w of waiters.splice(0)) w();
	});
	child.stderr.on("data", (d) => (stderr += d));
	const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
	return {
		child,
		exited,
		get stdout() {
			return stdout;
		},
		get stderr() {
			return stderr;
		},
		/** Resolves once stdout matches. */
		async waitFor(test: (stdout: string) => boolean, timeoutMs = 20_000): Promise<void> {
			const deadline = Date.now() + timeoutMs;
			while (!test(stdout)) {
				if (Date.now() > deadline || child.exitCode !== null) {
					throw new Error(`output did not arrive (exit ${child.exitCode})\nstdout: ${stdout}\nstderr: ${stderr}`);
				}
				await new Promise<void>((r) => {
					waiters.push(r);
					setTimeout(r, 200);
				});
			}
		},
	};
}

// ── anvil + contracts ───────────────────────────────────────────────────────

export interface Chain {
	rpcUrl: string;
	addresses: Addresses;
	stop(): void;
}

function ensureContractsBuilt(): Promise<void> {
	if (existsSync(join(ROOT, "contracts", "out", "ModelFactory.sol", "ModelFactory.json"))) return Promise.resolve();
	return new Promise((resolve, reject) => {
		const forge = spawn(join(BIN, "forge"), ["build"], { cwd: join(ROOT, "contracts"), stdio: "inherit" });
		forge.on("error", reject);
		forge.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`forge build exited ${code}`))));
	});
}

/** anvil on a free port with the contracts deployed by deployModeldex (deployer = settler = account 0). */
export async function startChain(): Promise<Chain> {
	await ensureContractsBuilt();
	const port = await freePort();
	const rpcUrl = `http://127.0.0.1:${port}`;
	const anvil = spawn(join(BIN, "anvil"), ["--port", String(port), "--host", "127.0.0.1", "--silent"], {
		stdio: "ignore",
		detached: true,
	});
	const stop = () => stopGroup(anvil);
	try {
		const client = createPublicClient({ transport: http(rpcUrl, { retryCount: 0 }) });
		await until("anvil", 20_000, () => client.getChainId());
		const addresses = await deployModeldex({ rpcUrl, privateKey: anvilKey(0) });
		return { rpcUrl, addresses, stop };
	} catch (error) {
		stop();
		throw error;
	}
}

/**
 * A JSON-RPC proxy in front of `target` that goes away (stops listening, drops its connections) once
 * it has answered `calls` calls of `method`: a node that is there when a command connects and gone
 * for its next read, so that read meets a port with nothing listening.
 */
export async function startRpcThatGoesAway(target: string, method: string, calls = 1): Promise<{ url: string }> {
	let answered = 0;
	const server: Server = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on("data", (chunk: Buffer) => chunks.push(chunk));
		req.on("end", async () => {
			const body = Buffer.concat(chunks).toString("utf8");
			const upstream = await fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body });
			const text = await upstream.text();
			const parsed = JSON.parse(body) as { method?: string } | Array<{ method?: string }>;
			const matched = (Array.isArray(parsed) ? parsed : [parsed]).some((call) => call.method === method);
			if (matched && ++answered >= calls) {
				res.once("finish", () => {
					server.close();
					server.closeAllConnections();
				});
			}
			res.writeHead(upstream.status, { "content-type": "application/json" });
			res.end(text);
		});
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Writes the addresses file where the CLI looks by default: <dir>/.modeldex/addresses.json. */
export function writeAddressesInto(dir: string, addresses: Addresses): string {
	return writeAddresses(addresses, join(dir, ".modeldex", "addresses.json"));
}

// ── Hugging Face stand-in ───────────────────────────────────────────────────

interface HfFixture {
	models: Record<string, { head: string; revisions: Record<string, string>; body: Record<string, unknown> }>;
	unauthorized: Record<string, string>;
}

export interface HfServer {
	url: string;
	requests: Array<{ path: string; authorization: string | undefined }>;
	close(): Promise<void>;
}

/**
 * Serves test/cli/fixtures/hf-models.json the way the Hub API does:
 *   GET /api/models/{org}/{name}                 → the head commit's answer
 *   GET /api/models/{org}/{name}/revision/{rev}  → that revision's answer (sha = the commit it resolves to)
 * Unknown repos and revisions answer 404 {error}; private ones 401 {error} unless the token is `hf_test`.
 */
export async function startHfServer(): Promise<HfServer> {
	const fixture = JSON.parse(readFileSync(join(ROOT, "test", "cli", "fixtures", "hf-models.json"), "utf8")) as HfFixture;
	const requests: HfServer["requests"] = [];
	const server: Server = createServer((req, res) => {
		const path = decodeURIComponent((req.url ?? "/").split("?")[0] ?? "/");
		requests.push({ path, authorization: req.headers.authorization });
		const send = (status: number, body: unknown) => {
			res.writeHead(status, { "content-type": "application/json" });
			res.end(JSON.stringify(body));
		};
		const match = /^\/api\/models\/([^/]+\/[^/]+?)(?:\/revision\/(.+))?$/.exec(path);
		if (req.method !== "GET" || !match?.[1]) return send(404, { error: "Not Found" });
		const repo = match[1];
		const revision = match[2];
		if (fixture.unauthorized[repo] !== undefined && req.headers.authorization !== "Bearer hf_test") {
			return send(401, { error: fixture.unauthorized[repo] });
		}
		const model = fixture.models[repo];
		if (!model) return send(404, { error: "Repository not found" });
		const sha = revision === undefined ? model.head : model.revisions[revision];
		if (!sha) return send(404, { error: `Invalid rev id: ${revision}` });
		send(200, { ...model.body, sha });
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: `http://127.0.0.1:${port}`,
		requests,
		close: () => new Promise((resolve) => server.close(() => resolve())),
	};
}

// ── The gateway under wrangler dev ──────────────────────────────────────────

export const ADMIN_TOKEN = "cli-test-admin-token-0123456789abcdef";
const RUN_TOKEN = "cli-test-run-token-0123456789abcdef";

/**
 * Environment of the test's wrangler processes. The dev registry (how the indexer's ACCOUNT_LEDGER
 * binding finds the gateway's Durable Objects across `wrangler dev` processes) is kept in the
 * test's own folder, so a gateway from `npm start` or another test is never the one found.
 */
export function wranglerEnv(stateDir: string): Record<string, string> {
	return {
		CI: "true",
		WRANGLER_SEND_METRICS: "false",
		WRANGLER_REGISTRY_PATH: join(stateDir, "registry"),
		WRANGLER_CI_DISABLE_CONFIG_WATCHING: "true",
	};
}

export interface GatewayProcess {
	url: string;
	port: number;
	admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
	stop(): void;
	/** Stops it and resolves once wrangler has exited (its port is free again). */
	stopped(): Promise<void>;
}

export function runTo(command: string, args: string[], env: Record<string, string>): Promise<void> {
	return new Promise((resolve, reject) => {
		const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
		let stderr = "";
		child.stderr.on("data", (d) => (stderr += d));
		child.on("error", reject);
		child.on("exit", (code) =>
			code === 0 ? resolve() : reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${stderr}`)),
		);
	});
}

/** The gateway from wrangler.toml with its own D1 (migrations applied) under `stateDir`. */
export async function startGateway(stateDir: string, opts: { port?: number } = {}): Promise<GatewayProcess> {
	const persist = join(stateDir, "wrangler-state");
	mkdirSync(persist, { recursive: true });
	const devVars = join(stateDir, "dev.vars");
	writeFileSync(devVars, `ADMIN_TOKEN=${ADMIN_TOKEN}\nSESSION_SECRET=cli-test-session-secret-0123456789abcdef0123456789\n`);
	const env = wranglerEnv(stateDir);
	const wrangler = join(BIN, "wrangler");
	await runTo(wrangler, ["d1", "migrations", "apply", "modeldex", "--local", "--persist-to", persist], env);
	const port = opts.port ?? (await freePort());
	const url = `http://127.0.0.1:${port}`;
	const child = spawn(
		wrangler,
		[
			"dev",
			// Offline: no remote bindings (the AI binding would otherwise need a Cloudflare account).
			"--local",
			"-c",
			"wrangler.toml",
			"--port",
			String(port),
			"--ip",
			"127.0.0.1",
			"--persist-to",
			persist,
			"--env-file",
			devVars,
			"--inspector-port",
			String(await freePort()),
			"--show-interactive-dev-session=false",
		],
		{ cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true },
	);
	let log = "";
	child.stdout?.on("data", (d) => (log += d));
	child.stderr?.on("data", (d) => (log += d));
	const stop = () => stopGroup(child);
	try {
		await until("wrangler dev", 60_000, async () => {
			if (child.exitCode !== null) throw new StopWaiting(`wrangler dev exited ${child.exitCode}`);
			const res = await fetch(`${url}/v1/models`);
			return res.ok ? true : undefined;
		});
	} catch (error) {
		stop();
		throw new Error(`${(error as Error).message}\n${log.slice(-4000)}`);
	}
	const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
	return {
		url,
		port,
		stop,
		async stopped() {
			stop();
			await exited;
			await until("the gateway's port to close", 20_000, async () => {
				try {
					await fetch(`${url}/v1/models`, { signal: AbortSignal.timeout(500) });
					return undefined;
				} catch {
					return true;
				}
			});
		},
		async admin(method, path, body) {
			const res = await fetch(`${url}${path}`, {
				method,
				headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
				body: body === undefined ? undefined : JSON.stringify(body),
			});
			return { status: res.status, body: await res.json() };
		},
	};
}

// ── The indexer under wrangler dev ──────────────────────────────────────────

export interface IndexerProcess {
	/** POST /run: one indexer pass now (the cron does not fire under wrangler dev). */
	run(): Promise<unknown>;
	stop(): void;
}

/**
 * The indexer Worker (workers/indexer/wrangler.toml) reading `chain`, sharing the gateway's D1
 * and reaching its AccountLedger through the dev registry. Start the gateway first.
 */
export async function startIndexer(
	stateDir: string,
	chain: Chain,
	opts: { confirmations?: number } = {},
): Promise<IndexerProcess> {
	const vars = join(stateDir, "indexer.vars");
	writeFileSync(
		vars,
		[
			`RUN_TOKEN=${RUN_TOKEN}`,
			`RPC_URL=${chain.rpcUrl}`,
			`CHAIN_ID=${chain.addresses.chainId}`,
			`CONFIRMATIONS=${opts.confirmations ?? 1}`,
			`CHAIN_ADDRESSES=${JSON.stringify(chain.addresses)}`,
			"",
		].join("\n"),
	);
	const port = await freePort();
	const url = `http://127.0.0.1:${port}`;
	const child = spawn(
		join(BIN, "wrangler"),
		[
			"dev",
			"--local",
			"-c",
			"workers/indexer/wrangler.toml",
			"--port",
			String(port),
			"--ip",
			"127.0.0.1",
			"--persist-to",
			join(stateDir, "wrangler-state"),
			"--env-file",
			vars,
			"--inspector-port",
			String(await freePort()),
			"--show-interactive-dev-session=false",
		],
		{ cwd: ROOT, env: { ...process.env, ...wranglerEnv(stateDir) }, stdio: ["ignore", "pipe", "pipe"], detached: true },
	);
	let log = "";
	child.stdout?.on("data", (d) => (log += d));
	child.stderr?.on("data", (d) => (log += d));
	const stop = () => stopGroup(child);
	const run = async () => {
		const res = await fetch(`${url}/run`, { method: "POST", headers: { authorization: `Bearer ${RUN_TOKEN}` } });
		const text = await res.text();
		if (!res.ok) throw new Error(`indexer /run answered ${res.status}: ${text}`);
		return JSON.parse(text) as unknown;
	};
	try {
		await until("the indexer under wrangler dev", 60_000, async () => {
			if (child.exitCode !== null) throw new StopWaiting(`wrangler dev exited ${child.exitCode}`);
			return (await run()) ?? undefined;
		});
	} catch (error) {
		stop();
		throw new Error(`${(error as Error).message}\n${log.slice(-4000)}`);
	}
	return { run, stop };
}
