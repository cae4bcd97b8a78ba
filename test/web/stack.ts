// The local stack for the browser tests, started from scratch in a temp folder: the
// development stand-in upstream, the D1 migrations, the dashboard build (web/dist)
// and the gateway Worker under `wrangler dev` on free ports. Also Chromium.
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { run } from "../../scripts/run.ts";
import { type StandInUpstream, startStandInUpstream } from "../../scripts/stand-in-upstream.ts";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const artifacts = join(root, "test", "web", "artifacts");
export const ADMIN_TOKEN = "web-test-admin-token-0123456789abcdef";
const SESSION_SECRET = "web-test-session-secret-0123456789abcdef0123456789";

export async function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.listen(0, "127.0.0.1", () => {
			const address = server.address();
			const port = typeof address === "object" && address ? address.port : 0;
			server.close(() => resolve(port));
		});
		server.on("error", reject);
	});
}

export interface Stack {
	/** http://127.0.0.1:<port> */
	origin: string;
	upstream: StandInUpstream;
	admin: (method: string, path: string, body?: unknown) => Promise<unknown>;
	restartGateway: (downMs: number) => Promise<void>;
	/** Runs the indexer once (only with the `indexer` option); resolves with its report. */
	runIndexer: () => Promise<string>;
	stop: () => Promise<void>;
}

/** Builds the dashboard (web/dist), which wrangler serves as the Worker's static assets. */
export async function buildDashboard(): Promise<void> {
	await run("npx", ["vite", "build", "web", "--logLevel", "warn"], { cwd: root });
}

/** The chain the indexer reads, when a test has one (test/web/chain.ts). */
export interface IndexerOptions {
	rpcUrl: string;
	/** The JSON deployModeldex returns. */
	addresses: unknown;
}

export async function startStack(opts: { vars?: Record<string, string>; indexer?: IndexerOptions } = {}): Promise<Stack> {
	const dir = await mkdtemp(join(tmpdir(), "modeldex-web-"));
	const persist = join(dir, "state");
	await mkdir(persist, { recursive: true });
	const upstream = await startStandInUpstream({ tokenDelayMs: 1 });
	const vars = { ADMIN_TOKEN, SESSION_SECRET, ...opts.vars };
	const envFile = join(dir, ".dev.vars");
	await writeFile(
		envFile,
		Object.entries(vars)
			.map(([k, v]) => `${k}=${v}\n`)
			.join(""),
	);
	await run("npx", ["wrangler", "d1", "migrations", "apply", "modeldex", "--local", "--persist-to", persist], {
		cwd: root,
		env: { CI: "true" },
		stdio: ["ignore", "ignore", "inherit"],
	});

	const port = await freePort();
	const origin = `http://127.0.0.1:${port}`;
	const log = createWriteStream(join(dir, "wrangler.log"));
	let wrangler: ChildProcess | null = null;

	const startGateway = async () => {
		const child = spawn(
			"npx",
			[
				"wrangler",
				"dev",
				// Remote bindings off: the AI binding would otherwise need a Cloudflare account.
				"--local",
				"-c",
				"wrangler.toml",
				"--persist-to",
				persist,
				"--port",
				String(port),
				"--ip",
				"127.0.0.1",
				"--inspector-port",
				String(await freePort()),
				"--env-file",
				envFile,
				"--show-interactive-dev-session=false",
			],
			{
				cwd: root,
				stdio: ["ignore", "pipe", "pipe"],
				env: { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_REGISTRY_PATH: join(dir, "registry") },
				detached: true,
			},
		);
		wrangler = child;
		child.stdout?.pipe(log, { end: false });
		child.stderr?.pipe(log, { end: false });
		const started = Date.now();
		for (;;) {
			if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode})`);
			if (Date.now() - started > 60_000) throw new Error("wrangler dev did not answer in 60 s");
			try {
				if ((await fetch(`${origin}/v1/models`)).ok) return;
			} catch {
				// not listening yet
			}
			await new Promise((r) => setTimeout(r, 200));
		}
	};
	const stopGateway = async () => {
		const child = wrangler;
		if (child?.pid && child.exitCode === null) {
			const exited = new Promise((r) => child.once("exit", r));
			process.kill(-child.pid, "SIGTERM");
			await exited;
		}
		wrangler = null;
	};
	// The indexer, as its own `wrangler dev` on the same local state: it writes the chain
	// index into the same D1 and credits deposits in the gateway's AccountLedger (found
	// through wrangler's dev registry). It runs when asked (POST /run), not on its cron.
	let indexer: ChildProcess | null = null;
	const indexerPort = opts.indexer ? await freePort() : 0;
	const RUN_TOKEN = "web-test-run-token-0123456789abcdef";
	if (opts.indexer) {
		const indexerEnv = join(dir, ".indexer.vars");
		await writeFile(
			indexerEnv,
			[
				`RUN_TOKEN=${RUN_TOKEN}`,
				`RPC_URL=${opts.indexer.rpcUrl}`,
				"CONFIRMATIONS=0",
				`CHAIN_ADDRESSES=${JSON.stringify(opts.indexer.addresses)}`,
			].join("\n"),
		);
		const indexerLog = createWriteStream(join(dir, "indexer.log"));
		indexer = spawn(
			"npx",
			[
				"wrangler",
				"dev",
				"--local",
				"-c",
				"workers/indexer/wrangler.toml",
				"--persist-to",
				persist,
				"--port",
				String(indexerPort),
				"--ip",
				"127.0.0.1",
				"--inspector-port",
				String(await freePort()),
				"--env-file",
				indexerEnv,
				"--show-interactive-dev-session=false",
			],
			{
				cwd: root,
				stdio: ["ignore", "pipe", "pipe"],
				env: { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_REGISTRY_PATH: join(dir, "registry") },
				detached: true,
			},
		);
		indexer.stdout?.pipe(indexerLog);
		indexer.stderr?.pipe(indexerLog);
	}
	const runIndexer = async () => {
		if (!opts.indexer) throw new Error("this stack has no indexer");
		const started = Date.now();
		for (;;) {
			try {
				const res = await fetch(`http://127.0.0.1:${indexerPort}/run`, {
					method: "POST",
					headers: { authorization: `Bearer ${RUN_TOKEN}` },
				});
				const body = await res.text();
				if (res.ok) return body;
				if (Date.now() - started > 30_000) throw new Error(`indexer /run: ${res.status} ${body}`);
			} catch (error) {
				if (Date.now() - started > 30_000) throw error;
			}
			await new Promise((r) => setTimeout(r, 300));
		}
	};

	const stop = async () => {
		const child = indexer;
		if (child?.pid && child.exitCode === null) {
			const exited = new Promise((r) => child.once("exit", r));
			process.kill(-child.pid, "SIGTERM");
			await exited;
		}
		await stopGateway();
		await upstream.close();
		log.end();
		// KEEP_WEB_STACK=1 keeps the state and the wrangler logs for a look after a failure.
		if (process.env.KEEP_WEB_STACK) console.log(`web test stack kept in ${dir}`);
		else await rm(dir, { recursive: true, force: true });
	};
	try {
		await startGateway();
	} catch (error) {
		const output = await readFile(join(dir, "wrangler.log"), "utf8").catch(() => "");
		await stop();
		throw new Error(`${(error as Error).message}\n--- wrangler dev output (last 3000 chars) ---\n${output.slice(-3000)}`);
	}
	const admin = async (method: string, path: string, body?: unknown) => {
		const res = await fetch(`${origin}${path}`, {
			method,
			headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		const text = await res.text();
		if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
		return JSON.parse(text) as unknown;
	};
	/** Stops the gateway and starts it again on the same port and state, as a deploy or a crash would. */
	const restartGateway = async (downMs: number) => {
		await stopGateway();
		await new Promise((r) => setTimeout(r, downMs));
		await startGateway();
	};
	return { origin, upstream, admin, restartGateway, runIndexer, stop };
}

export async function launchChromium(): Promise<{ browser: Browser; close: () => Promise<void> }> {
	// Playwright gives each launch a fresh temporary profile (--user-data-dir) and removes it on close.
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
		args: [
			"--headless",
			"--no-sandbox",
			"--disable-gpu",
			"--disable-quic",
			"--no-first-run",
			"--disable-background-networking",
			"--disable-component-update",
			"--disable-sync",
		],
	});
	return {
		browser,
		close: () => browser.close(),
	};
}

/** Elements sticking out past the right edge of the screen, except inside boxes that scroll (code, chart). */
export function offscreen(page: Page): Promise<string[]> {
	return page.evaluate(() =>
		[...document.querySelectorAll("body *")]
			.filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
			.filter((el) => !el.parentElement?.closest("pre, .u-over, .u-wrap"))
			.map((el) => `${el.tagName.toLowerCase()}.${el.className} right=${Math.round(el.getBoundingClientRect().right)}`)
			.slice(0, 8),
	);
}
