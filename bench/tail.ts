// Where a target's slow requests come from, at c=1: the same requests, round robin, to
// direct, the floor, the gateway and gateway-bare (each alone in its own processes), with
// each request's start time kept; then per target the slow ones (over the p99 target's bar:
// direct's p99 + 1.3 x the floor's added p99) and how they are spaced in time.
//
//   node bench/tail.ts        BENCH_REQUESTS (3000) per target; BENCH_TAIL_ENV='{"BATCH_MS":"1000"}'
//   BENCH_TAIL_REF=<git ref>  adds the gateway as it was at that ref (target "gw@ref"), in
//                             processes of its own: a change's effect on the tail, side by side

import { rmSync } from "node:fs";
import { setPriority } from "node:os";
import { buildBundles, bundleGatewayAt } from "./build.ts";
import { newTarget, percentile, requestBody, runClosedLoop, type Target } from "./load.ts";
import { startFloor, startLoneGateway, startUpstream } from "./runtime.ts";

const N = Number(process.env.BENCH_REQUESTS ?? 3000);
/** Concurrent requests (1 unless BENCH_CONCURRENCY): at 32, stalls that hold many requests at once show as runs of slow ones. */
const C = Number(process.env.BENCH_CONCURRENCY ?? 1);
try {
	setPriority(-10);
} catch {}
const bundles = await buildBundles();
const upstream = await startUpstream(5);
const floor = await startFloor("floor", bundles.floor, upstream.url);
/** BENCH_TAIL_GARBAGE=1: the floor allocating as the gateway does (passthrough-worker.ts, MODE garbage), as a target. */
const junky = process.env.BENCH_TAIL_GARBAGE ? await startFloor("garbage", bundles.floor, upstream.url) : null;
const bindings = JSON.parse(process.env.BENCH_TAIL_ENV ?? "{}") as Record<string, string>;
const gw = await startLoneGateway({ gateway: bundles.gateway, admin: bundles.admin }, upstream.url, {
	payers: 32,
	name: "gw",
	bindings,
});
const bare = await startLoneGateway({ gateway: bundles.variants["gateway-bare"], admin: bundles.admin }, upstream.url, {
	payers: 32,
	name: "bare",
	bindings,
});
const ref = process.env.BENCH_TAIL_REF;
const atRef = ref ? await bundleGatewayAt(ref, bundles.dir) : null;
const old = atRef
	? await startLoneGateway({ gateway: atRef.path, admin: bundles.admin }, upstream.url, { payers: 32, name: "ref", bindings })
	: null;
if (atRef) console.log(`gw@ref: ${ref} (${atRef.commit}); gateway: the working tree`);
const targets: Array<{ t: Target; keys: string[] | null; models: string[] }> = [
	{ t: newTarget("direct", `${upstream.url}/v1`), keys: null, models: gw.models },
	{ t: newTarget("floor", `${floor.url}/v1`), keys: null, models: gw.models },
	{ t: newTarget("gateway", gw.base), keys: gw.keys, models: gw.models },
	{ t: newTarget("bare", bare.base), keys: bare.keys, models: bare.models },
	...(old ? [{ t: newTarget("gw@ref", old.base), keys: old.keys, models: old.models }] : []),
	...(junky ? [{ t: newTarget("garbage", `${junky.url}/v1`), keys: null, models: gw.models }] : []),
];
const samples = new Map<string, Array<{ at: number; ms: number }>>(targets.map((x) => [x.t.name, []]));
const plan = (i: number) => {
	const round = Math.floor(i / targets.length);
	const x = targets[(i + round) % targets.length] as (typeof targets)[number];
	return {
		target: x.t,
		body: requestBody(x.models[round % x.models.length] as string, false),
		authorization: x.keys ? `Bearer ${x.keys[round % x.keys.length]}` : null,
		stream: false,
	};
};
await runClosedLoop(400 * targets.length, C, plan, () => {});
const t0 = performance.now();
await runClosedLoop(N * targets.length, C, plan, (_i, call, s) => {
	samples.get(call.target.name)?.push({ at: performance.now() - t0 - s.totalMs, ms: s.totalMs });
});
const sorted = new Map([...samples].map(([name, xs]) => [name, xs.map((s) => s.ms).sort((a, b) => a - b)]));
const p = (name: string, q: number) => percentile(sorted.get(name) ?? [], q);
const directP99 = p("direct", 99);
const floorAdded = p("floor", 99) - directP99;
const bar = directP99 + 1.3 * floorAdded;
console.log(`direct p99 ${directP99.toFixed(2)}; floor +p99 ${floorAdded.toFixed(2)}; bar ${bar.toFixed(2)} ms`);
for (const [name, xs] of samples) {
	const slow = xs.filter((s) => s.ms > bar);
	const gaps = slow.slice(1).map((s, i) => s.at - (slow[i] as { at: number }).at);
	const hist = new Map<string, number>();
	for (const g of gaps) {
		const k = g < 50 ? "<50" : g < 250 ? "50-250" : g < 1000 ? "250-1000" : g < 4000 ? "1-4s" : g < 6000 ? "4-6s" : ">6s";
		hist.set(k, (hist.get(k) ?? 0) + 1);
	}
	console.log(
		`${name.padEnd(8)} p50 ${p(name, 50).toFixed(2)} p90 ${p(name, 90).toFixed(2)} p99 ${p(name, 99).toFixed(2)} p99.9 ${p(name, 99.9).toFixed(2)}  over bar ${slow.length}/${xs.length}  gaps ${[...hist].map(([k, v]) => `${k}:${v}`).join(" ")}`,
	);
	if (process.env.BENCH_TAIL_LIST)
		console.log(`  ${slow.map((s) => `${(s.at / 1000).toFixed(3)}s:${s.ms.toFixed(1)}`).join(" ")}`);
}
await Promise.all([floor.mf.dispose(), junky?.mf.dispose(), gw.group.dispose(), bare.group.dispose(), old?.group.dispose()]);
upstream.proc.kill();
rmSync(bundles.dir, { recursive: true, force: true });
