// Does a change make the gateway cheaper? workerd CPU per request of the gateway built
// from a git ref (A, default HEAD) against the working tree (B), each alone (its gateway
// process and its objects' process, bench/runtime.ts startGatewayGroup),
// measured in alternating rounds in one run (this box is noisy: only side-by-side ratios
// mean anything).
//
//   node bench/cpu-ab.ts [ref]            BENCH_STREAM=1 for streamed requests
//
// Per round and build: BENCH_CPU_REQUESTS (1,000) requests at c=8, then a pause until the
// deferred work (batches, lease close, meter flush; DEFERRED_WORK_MS in cpu.ts) has landed;
// both its processes' CPU ticks from /proc, less their idle rate, per request. BENCH_ROUNDS (6)
// rounds, the order alternating.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundle, bundleGatewayAt } from "./build.ts";
import { cpuPerRequest, idleTicksPerMs, median, processTicks } from "./cpu.ts";
import { newTarget, requestBody, runClosedLoop } from "./load.ts";
import { startLoneGateway, startUpstream } from "./runtime.ts";

const REF = process.argv[2] ?? "HEAD";
const REQUESTS = Number(process.env.BENCH_CPU_REQUESTS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const STREAM = process.env.BENCH_STREAM === "1";
const CONCURRENCY = 8;

const dir = mkdtempSync(join(tmpdir(), "modeldex-cpu-ab-"));
const upstream = await startUpstream(5);
const started: Array<{ dispose(): Promise<void> }> = [];
/** A build's CPU: its gateway's process and its objects' process. */
const ticksOf = (pids: number[]) => pids.reduce((sum, pid) => sum + processTicks(pid), 0);
try {
	const admin = await bundle("bench/admin-worker.ts", join(dir, "admin", "index.js"));
	const atRef = await bundleGatewayAt(REF, dir);
	const builds = {
		A: atRef.path,
		B: await bundle("workers/gateway/index.ts", join(dir, "B", "index.js")),
	};
	const sides: Array<{ name: string; pids: number[]; run(n: number): Promise<number>; failed(): number; samples: number[] }> = [];
	for (const [name, gateway] of Object.entries(builds)) {
		const lone = await startLoneGateway({ gateway, admin }, upstream.url, { payers: CONCURRENCY, name });
		started.push(lone.group);
		const bodies = lone.models.map((m) => requestBody(m, STREAM));
		const target = newTarget(name, lone.base);
		let failed = 0;
		const run = (n: number) =>
			runClosedLoop(
				n,
				CONCURRENCY,
				(i, w) => ({
					target,
					body: bodies[i % bodies.length] as string,
					authorization: `Bearer ${lone.keys[w]}`,
					stream: STREAM,
				}),
				(_i, _c, s) => {
					if (!s.ok) failed++;
				},
			);
		sides.push({ name, pids: Object.values(lone.group.pids), run, failed: () => failed, samples: [] as number[] });
	}
	for (const side of sides) await side.run(500); // warm-up
	// Each workerd's idle rate (timers, alarms) once the warm-up's deferred work has landed.
	const idlePerMs = await Promise.all(sides.map((s) => idleTicksPerMs(() => ticksOf(s.pids))));
	for (let round = 0; round < ROUNDS; round++) {
		const order = round % 2 === 0 ? sides : [...sides].reverse();
		for (const side of order) {
			const i = sides.indexOf(side);
			side.samples.push(
				(
					await cpuPerRequest([{ ticks: () => ticksOf(side.pids), idlePerMs: idlePerMs[i] ?? 0 }], REQUESTS, () =>
						side.run(REQUESTS),
					)
				)[0] ?? Number.NaN,
			);
		}
		process.stderr.write(`round ${round + 1}: ${sides.map((s) => `${s.name} ${s.samples.at(-1)?.toFixed(3)}`).join(", ")} ms\n`);
	}
	const [a, b] = sides.map((s) => median(s.samples)) as [number, number];
	const ratios = sides[0]?.samples.map((x, i) => (sides[1]?.samples[i] ?? Number.NaN) / x) ?? [];
	console.log(
		`workerd CPU per ${STREAM ? "streamed" : "non-stream"} request, c=${CONCURRENCY}, ${ROUNDS} rounds of ${REQUESTS}:\n` +
			`  A (${REF}, ${(await atRef).commit})  median ${a.toFixed(3)} ms  [${sides[0]?.samples.map((x) => x.toFixed(3)).join(" ")}]\n` +
			`  B (working tree)    median ${b.toFixed(3)} ms  [${sides[1]?.samples.map((x) => x.toFixed(3)).join(" ")}]\n` +
			`  B / A per round: ${ratios.map((r) => r.toFixed(2)).join(" ")}; median ${median(ratios).toFixed(2)}; ` +
			`failed ${sides.map((s) => s.failed()).join("/")}`,
	);
} finally {
	for (const group of started) await group.dispose();
	upstream.proc.kill();
	rmSync(dir, { recursive: true, force: true });
}
