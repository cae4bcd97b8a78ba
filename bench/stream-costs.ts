// Where a streamed request's CPU goes in workerd: the stand-in upstream's stream (16
// events, one write each, no delay) relayed natively, through a JS pull stream, through a
// JS loop into an IdentityTransformStream, and through the gateway's meter. Each Worker
// alone at c=8, 1,000 requests; workerd CPU ticks from /proc per request, idle rate removed.
//
//   node bench/stream-costs.ts

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { bundle } from "./build.ts";
import { cpuPerRequest, descendantTicks, idleTicksPerMs } from "./cpu.ts";
import { newTarget, requestBody, runClosedLoop } from "./load.ts";
import { COMPAT, directUrl, startUpstream } from "./runtime.ts";

const ROOT = resolve(import.meta.dirname, "..");
const MODES = ["native", "pull", "pump", "byob", "meter"] as const;
const REQUESTS = Number(process.env.BENCH_CPU_REQUESTS ?? 1000);

const dir = mkdtempSync(join(tmpdir(), "modeldex-stream-costs-"));
const scripts = await Promise.all(
	MODES.map((mode) => bundle("bench/stream-costs-worker.ts", join(dir, mode, "index.js"), { MODE: JSON.stringify(mode) })),
);

const upstream = await startUpstream(5);
const mf = new Miniflare(
	convertV4MiniflareOptions({
		rootPath: ROOT,
		workers: MODES.map((mode, i) => ({
			name: mode,
			modules: true,
			scriptPath: scripts[i] as string,
			modulesRoot: dirname(scripts[i] as string),
			...COMPAT,
			bindings: { UPSTREAM_URL: upstream.url },
			unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
		})),
	}),
);
const body = requestBody("bench", true);
const results: string[] = [];
try {
	await mf.ready;
	const workerdTicks = () => descendantTicks("workerd");
	// These Workers have no objects: nothing is deferred past a response (the 1 s after a run
	// only lets its last connections' work land).
	const idlePerMs = await idleTicksPerMs(workerdTicks, 0);
	for (const mode of MODES) {
		const target = newTarget(mode, await directUrl(mf, mode));
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
		const [ms = Number.NaN] = await cpuPerRequest([{ ticks: workerdTicks, idlePerMs }], REQUESTS, run, 1000);
		results.push(`  ${mode.padEnd(7)} ${ms.toFixed(3)} ms per streamed request (failed ${failed})`);
	}
} finally {
	await mf.dispose();
	upstream.proc.kill();
	rmSync(dir, { recursive: true, force: true });
}
console.log(`workerd CPU per streamed request, each relay alone at c=8, ${REQUESTS} requests:\n${results.join("\n")}`);
