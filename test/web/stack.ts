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
import { type Browser, chromium } from "playwright-core";
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
	stop: () => Promise<void>;
}

/** Builds the dashboard (web/dist), which wrangler serves as the Worker's static assets. */
export async function buildDashboard(): Promise<void> {
	await run("npx", ["vite", "build", "web", "--logLevel", "warn"], { cwd: root });
}

export async function startStack(opts: { vars?: Record<string, string> } = {}): Promise<Stack> {
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
	const log = createWriteStream(join(dir, "wrangler.log"));
	const wrangler: ChildProcess = spawn(
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
		{ cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WRANGLER_SEND_METRICS: "false" }, detached: true },
	);
	wrangler.stdout?.pipe(log);
	wrangler.stderr?.pipe(log);
	const origin = `http://127.0.0.1:${port}`;
	const stop = async () => {
		if (wrangler.pid && wrangler.exitCode === null) {
			process.kill(-wrangler.pid, "SIGTERM");
			await new Promise((r) => wrangler.once("exit", r));
		}
		await upstream.close();
		await rm(dir, { recursive: true, force: true });
	};
	try {
		const started = Date.now();
		for (;;) {
			if (wrangler.exitCode !== null) throw new Error(`wrangler dev exited (${wrangler.exitCode})`);
			if (Date.now() - started > 60_000) throw new Error("wrangler dev did not answer in 60 s");
			try {
				if ((await fetch(`${origin}/v1/models`)).ok) break;
			} catch {
				// not listening yet
			}
			await new Promise((r) => setTimeout(r, 200));
		}
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
	return { origin, upstream, admin, stop };
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
