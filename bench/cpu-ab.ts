// Does a change make the gateway cheaper? workerd CPU per request of the gateway built
// from a git ref (A, default HEAD) against the working tree (B), each in its own workerd,
// measured in alternating rounds in one run (this box is noisy: only side-by-side ratios
// mean anything).
//
//   node bench/cpu-ab.ts [ref]            BENCH_STREAM=1 for streamed requests
//
// Per round and build: BENCH_CPU_REQUESTS (1,000) requests at c=8, then a 1.5 s pause so
// deferred work (batches, meter flush) is counted; that workerd's CPU ticks from /proc,
// less its idle rate, per request. BENCH_ROUNDS (6) rounds, the order alternating.

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bundle } from "./build.ts";
import { processTicks, TICK_MS } from "./cpu.ts";
import { newTarget, requestBody, runClosedLoop } from "./load.ts";
import { startLoneGateway, startUpstream } from "./runtime.ts";

const ROOT = resolve(import.meta.dirname, "..");
const REF = process.argv[2] ?? "HEAD";
const REQUESTS = Number(process.env.BENCH_CPU_REQUESTS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const STREAM = process.env.BENCH_STREAM === "1";
const CONCURRENCY = 8;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), "modeldex-cpu-ab-"));
const tree = join(dir, "a-tree");
const git = (...args: string[]) => execFileSync("git", args, { cwd: ROOT, encoding: "utf8" }).trim();
git("worktree", "add", "--detach", tree, REF);
symlinkSync(join(ROOT, "node_modules"), join(tree, "node_modules"));
const upstream = await startUpstream(5);
const started: Array<{ dispose(): Promise<void> }> = [];
try {
	const admin = await bundle("bench/admin-worker.ts", join(dir, "admin", "index.js"));
	const builds = {
		A: await bundle(join(tree, "workers/gateway/index.ts"), join(dir, "A", "index.js")),
		B: await bundle("workers/gateway/index.ts", join(dir, "B", "index.js")),
	};
	const sides: Array<{ name: string; pid: number; run(n: number): Promise<number>; failed(): number; samples: number[] }> = [];
	for (const [name, gateway] of Object.entries(builds)) {
		const lone = await startLoneGateway({ gateway, admin }, upstream.url, { payers: CONCURRENCY, name });
		started.push(lone.mf);
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
		sides.push({ name, pid: lone.pid, run, failed: () => failed, samples: [] as number[] });
	}
	for (const side of sides) await side.run(500); // warm-up
	// Each workerd's idle rate (timers, alarms), measured together.
	const idle0 = sides.map((s) => processTicks(s.pid));
	await sleep(3000);
	const idlePerMs = sides.map((s, i) => (processTicks(s.pid) - (idle0[i] ?? 0)) / 3000);
	for (let round = 0; round < ROUNDS; round++) {
		const order = round % 2 === 0 ? sides : [...sides].reverse();
		for (const side of order) {
			const i = sides.indexOf(side);
			const before = processTicks(side.pid);
			const t0 = performance.now();
			await side.run(REQUESTS);
			await sleep(1500);
			const ticks = processTicks(side.pid) - before - (idlePerMs[i] ?? 0) * (performance.now() - t0);
			side.samples.push((ticks * TICK_MS) / REQUESTS);
		}
		process.stderr.write(`round ${round + 1}: ${sides.map((s) => `${s.name} ${s.samples.at(-1)?.toFixed(3)}`).join(", ")} ms\n`);
	}
	const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
	const [a, b] = sides.map((s) => median(s.samples)) as [number, number];
	const ratios = sides[0]?.samples.map((x, i) => (sides[1]?.samples[i] ?? Number.NaN) / x) ?? [];
	console.log(
		`workerd CPU per ${STREAM ? "streamed" : "non-stream"} request, c=${CONCURRENCY}, ${ROUNDS} rounds of ${REQUESTS}:\n` +
			`  A (${REF}, ${git("rev-parse", "--short", REF)})  median ${a.toFixed(3)} ms  [${sides[0]?.samples.map((x) => x.toFixed(3)).join(" ")}]\n` +
			`  B (working tree)    median ${b.toFixed(3)} ms  [${sides[1]?.samples.map((x) => x.toFixed(3)).join(" ")}]\n` +
			`  B / A per round: ${ratios.map((r) => r.toFixed(2)).join(" ")}; median ${median(ratios).toFixed(2)}; ` +
			`failed ${sides.map((s) => s.failed()).join("/")}`,
	);
} finally {
	for (const mf of started) await mf.dispose();
	upstream.proc.kill();
	git("worktree", "remove", "--force", tree);
	rmSync(dir, { recursive: true, force: true });
}
