// Where a streamed request's CPU goes in workerd: the stand-in upstream's stream (16
// events, one write each, no delay) relayed natively, through a JS pull stream, through a
// JS loop into an IdentityTransformStream, and through the gateway's meter. Each Worker
// alone at c=8, 1,000 requests; workerd CPU ticks from /proc per request, idle rate removed.
//
//   node bench/stream-costs.ts

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { build } from "esbuild";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { descendantTicks, TICK_MS } from "./cpu.ts";
import { newTarget, runClosedLoop } from "./load.ts";

const ROOT = resolve(import.meta.dirname, "..");
const MODES = ["native", "pull", "pump", "byob", "meter"] as const;
const REQUESTS = Number(process.env.BENCH_CPU_REQUESTS ?? 1000);

const dir = mkdtempSync(join(tmpdir(), "modeldex-stream-costs-"));
const scripts = await Promise.all(
	MODES.map(async (mode) => {
		const outfile = join(dir, mode, "index.js");
		await build({
			entryPoints: [join(ROOT, "bench/stream-costs-worker.ts")],
			outfile,
			bundle: true,
			format: "esm",
			platform: "neutral",
			target: "es2024",
			conditions: ["workerd", "worker", "browser"],
			mainFields: ["browser", "module", "main"],
			external: ["cloudflare:*", "node:*"],
			logLevel: "warning",
			define: { MODE: JSON.stringify(mode) },
		});
		return outfile;
	}),
);

const upstream: ChildProcess = spawn(process.execPath, [join(ROOT, "bench/upstream-server.ts")], {
	stdio: ["ignore", "pipe", "inherit"],
});
const upstreamUrl = await new Promise<string>((ok) => {
	upstream.stdout?.once("data", (line: Buffer) => ok((JSON.parse(line.toString()) as { url: string }).url));
});

const mf = new Miniflare(
	convertV4MiniflareOptions({
		rootPath: ROOT,
		workers: MODES.map((mode, i) => ({
			name: mode,
			modules: true,
			scriptPath: scripts[i] as string,
			modulesRoot: dirname(scripts[i] as string),
			compatibilityDate: "2026-11-01",
			compatibilityFlags: ["nodejs_compat"],
			bindings: { UPSTREAM_URL: upstreamUrl },
			unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
		})),
	}),
);
await mf.ready;

const body = JSON.stringify({
	model: "bench",
	stream: true,
	stream_options: { include_usage: true },
	max_tokens: 16,
	messages: [{ role: "user", content: "Benchmark prompt." }],
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const idleStart = descendantTicks("workerd");
await sleep(2000);
const idlePerMs = (descendantTicks("workerd") - idleStart) / 2000;
const results: string[] = [];
try {
	for (const mode of MODES) {
		const target = newTarget(mode, (await mf.unsafeGetDirectURL(mode)).toString().replace(/\/$/, ""));
		let failed = 0;
		const run = () =>
			runClosedLoop(
				REQUESTS,
				8,
				() => ({ target, body, authorization: null, stream: true }),
				(_i, _c, s) => {
					if (!s.ok) failed++;
				},
			);
		await run(); // warm-up
		const before = descendantTicks("workerd");
		const t0 = performance.now();
		await run();
		await sleep(1000);
		const ticks = descendantTicks("workerd") - before - idlePerMs * (performance.now() - t0);
		results.push(`  ${mode.padEnd(7)} ${((ticks * TICK_MS) / REQUESTS).toFixed(3)} ms per streamed request (failed ${failed})`);
	}
} finally {
	await mf.dispose();
	upstream.kill();
	rmSync(dir, { recursive: true, force: true });
}
console.log(`workerd CPU per streamed request, each relay alone at c=8, ${REQUESTS} requests:\n${results.join("\n")}`);
