// How much garbage a request leaves for a full collection, per target: the heap an isolate
// holds after `BENCH_REQUESTS` (4,000) requests at c=8 less what it held after a full
// collection before them (no full collection between), read through the DevTools inspector
// (`Runtime.getHeapUsage`):
//   - V8's heap: what scavenges kept (promoted to the old generation, or still young);
//   - the embedder's (workerd's native objects, cppgc), which only a full collection frees.
// A full collection's pause grows with the second (bench/README.md, tail), and comes sooner
// the faster the first grows.
//
//   node bench/garbage.ts
//
// Targets: the floor; bench/request-costs-worker.ts's steps (each adds one thing the gateway
// does per request to the one before: see bench/README.md, request-costs); the gateway as gateway-overhead runs it (its objects in another process,
// reached through Miniflare's dev registry: a proxy Durable Object in the gateway's process
// forwards every call, two hops where production has one); gateway-bare (no Durable Object
// calls); and the gateway with its objects bound directly, in one process (one hop, as in
// production, but their work on the gateway's thread: for this figure only).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { bundle, VARIANTS } from "./build.ts";
import { openInspector } from "./inspector.ts";
import { newTarget, requestBody, runClosedLoop } from "./load.ts";
import { COMPAT, directUrl, startFloor, startLoneGateway, startUpstream } from "./runtime.ts";

const N = Number(process.env.BENCH_REQUESTS ?? 4000);
const STEPS = ["buffered", "signal", "timer", "hono", "zod", "waituntil"] as const;
const CONCURRENCY = 8;
const ROOT = resolve(import.meta.dirname, "..");

interface HeapUsage {
	usedSize: number;
	embedderHeapUsedSize: number;
}

const dir = mkdtempSync(join(tmpdir(), "modeldex-garbage-"));
const upstream = await startUpstream(5);
const stops: Array<() => Promise<void>> = [];
try {
	const [gateway, bare, admin, floorScript] = await Promise.all([
		bundle("workers/gateway/index.ts", join(dir, "gateway", "index.js")),
		bundle("bench/variant-worker.ts", join(dir, "bare", "index.js"), { BENCH_STUB: JSON.stringify(VARIANTS["gateway-bare"]) }),
		bundle("bench/admin-worker.ts", join(dir, "admin", "index.js")),
		bundle("bench/passthrough-worker.ts", join(dir, "floor", "index.js")),
	]);
	const floor = await startFloor("floor", floorScript, upstream.url, { inspectorPort: 9341 });
	stops.push(() => floor.mf.dispose());
	const stepScripts = await Promise.all(
		STEPS.map((mode) => bundle("bench/request-costs-worker.ts", join(dir, mode, "index.js"), { MODE: JSON.stringify(mode) })),
	);
	const steps = new Miniflare(
		convertV4MiniflareOptions({
			host: "127.0.0.1",
			port: 0,
			rootPath: ROOT,
			inspectorPort: 9345,
			handleStructuredLogs: () => {},
			workers: STEPS.map((mode, i) => ({
				name: mode,
				modules: true,
				scriptPath: stepScripts[i] as string,
				modulesRoot: dirname(stepScripts[i] as string),
				...COMPAT,
				bindings: { UPSTREAM_URL: upstream.url },
				unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
			})) as never,
		}),
	);
	await steps.ready;
	stops.push(() => steps.dispose());
	const lone = async (name: string, script: string, port: number, sameProcess = false) => {
		const g = await startLoneGateway({ gateway: script, admin }, upstream.url, {
			payers: CONCURRENCY,
			name,
			inspectorPort: port,
			sameProcess,
		});
		stops.push(() => g.group.dispose());
		return { name, port, base: g.base, keys: g.keys as string[] | null, models: g.models };
	};
	const targets = [
		{ name: "floor", port: 9341, base: `${floor.url}/v1`, keys: null, models: ["m"] },
		...(await Promise.all(
			STEPS.map(async (mode) => ({
				name: mode,
				port: 9345,
				base: `${await directUrl(steps, mode)}/v1`,
				keys: null,
				models: ["m"],
			})),
		)),
		await lone("gateway", gateway, 9342),
		await lone("gateway-bare", bare, 9343),
		await lone("gateway-direct", gateway, 9344, true),
	];
	console.log(`${N} non-stream requests at c=${CONCURRENCY} per target; per request, no full collection between:`);
	console.log(`  ${"target".padEnd(16)} ${"V8 heap kept".padStart(14)} ${"native heap".padStart(13)}`);
	for (const t of targets) {
		const target = newTarget(t.name, t.base);
		const run = (n: number) =>
			runClosedLoop(
				n,
				CONCURRENCY,
				(i, w) => ({
					target,
					body: requestBody(t.models[i % t.models.length] as string, false),
					authorization: t.keys ? `Bearer ${t.keys[w]}` : null,
					stream: false,
				}),
				() => {},
			);
		await run(500);
		const session = await openInspector(t.port, t.name);
		// workerd serves the inspector from the isolate's event loop: a request wakes it.
		await Promise.all([session.send("HeapProfiler.collectGarbage"), run(1)]);
		const [before] = await Promise.all([session.send<HeapUsage>("Runtime.getHeapUsage"), run(1)]);
		await run(N);
		const [after] = await Promise.all([session.send<HeapUsage>("Runtime.getHeapUsage"), run(1)]);
		session.close();
		const per = (k: keyof HeapUsage) => `${Math.round((after[k] - before[k]) / N)} B`;
		console.log(`  ${t.name.padEnd(16)} ${per("usedSize").padStart(14)} ${per("embedderHeapUsedSize").padStart(13)}`);
	}
} finally {
	for (const stop of stops) await stop();
	upstream.proc.kill();
	rmSync(dir, { recursive: true, force: true });
}
