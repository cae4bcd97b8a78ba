// Where the gateway's JavaScript time goes: a V8 CPU profile of the gateway isolate in
// workerd (through the DevTools inspector Miniflare exposes) while it serves load,
// summarised as self time per function.
//
//   node bench/profile.ts                 (non-stream; BENCH_STREAM=1 for streamed requests)
//
// BENCH_CPU_REQUESTS (2,000) requests at c=BENCH_CONCURRENCY (8) after a warm-up, one payer
// per worker, 4 models.
// BENCH_PROFILE_OUT=<file> also writes the raw .cpuprofile (open it in Chrome DevTools).
// BENCH_PROFILE_VARIANT=gateway-bare (or another of bench/build.ts's VARIANTS) profiles that
// variant instead of the gateway as deployed.
// BENCH_PROFILE_PROCESS=objects profiles the isolate of the gateway's Durable Objects (the
// other process) instead of the gateway's.
// BENCH_PROFILE_KIND=heap samples allocations instead of CPU (V8's sampling heap profiler,
// every 16 KiB allocated by default): bytes allocated per request by function, and how
// many bytes per request the isolate allocated in all (what sets how often it collects
// garbage). The ratio of bytes to requests is the figure; a profile of one run is not a
// benchmark.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundle, VARIANTS, type Variant } from "./build.ts";
import { type Inspector, openInspector } from "./inspector.ts";
import { newTarget, requestBody, runClosedLoop } from "./load.ts";
import { startLoneGateway, startUpstream } from "./runtime.ts";

const REQUESTS = Number(process.env.BENCH_CPU_REQUESTS ?? 2000);
const STREAM = process.env.BENCH_STREAM === "1";
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const INSPECTOR_PORT = 9329;
// Bundled unminified unless asked (BENCH_MINIFY=1): a profile needs the functions' names. The
// deployed gateway is minified, so its heap holds a smaller script (wrangler.toml).
process.env.BENCH_MINIFY ??= "0";
/** CPU sampling interval asked of V8, and the gap past which a sample counts as late. */
const SAMPLING_US = 100;
const LATE_SAMPLE_US = 1000;
const OBJECTS = process.env.BENCH_PROFILE_PROCESS === "objects";
const HEAP = process.env.BENCH_PROFILE_KIND === "heap";
/** BENCH_PROFILE_KIND=snapshot: a heap snapshot after the warm-up, what the isolate holds between requests. */
const SNAPSHOT = process.env.BENCH_PROFILE_KIND === "snapshot";
/** BENCH_HEAP_SURVIVORS=1: count only allocations that survived a scavenge (see heapProfile). */
const SURVIVORS = process.env.BENCH_HEAP_SURVIVORS === "1";

interface ProfileNode {
	id: number;
	callFrame: { functionName: string; url: string; lineNumber: number };
	children?: number[];
}
interface Profile {
	nodes: ProfileNode[];
	samples: number[];
	timeDeltas: number[];
	startTime: number;
	endTime: number;
}

const VARIANT = process.env.BENCH_PROFILE_VARIANT as Variant | undefined;
if (VARIANT !== undefined && !(VARIANT in VARIANTS))
	throw new Error(`BENCH_PROFILE_VARIANT: one of ${Object.keys(VARIANTS).join(", ")}`);

const dir = mkdtempSync(join(tmpdir(), "modeldex-profile-"));
const [gateway, admin] = await Promise.all([
	VARIANT
		? bundle("bench/variant-worker.ts", join(dir, "gateway", "index.js"), { BENCH_STUB: JSON.stringify(VARIANTS[VARIANT]) })
		: bundle("workers/gateway/index.ts", join(dir, "gateway", "index.js")),
	bundle("bench/admin-worker.ts", join(dir, "admin", "index.js")),
]);
const upstream = await startUpstream(5);
const lone = await startLoneGateway({ gateway, admin }, upstream.url, {
	payers: CONCURRENCY,
	...(OBJECTS ? { objectsInspectorPort: INSPECTOR_PORT } : { inspectorPort: INSPECTOR_PORT }),
});

try {
	const target = newTarget("gateway", lone.base);
	const bodies = lone.models.map((model) => requestBody(model, STREAM));
	let failed = 0;
	const run = (n: number) =>
		runClosedLoop(
			n,
			CONCURRENCY,
			(i, w) => ({ target, body: bodies[i % bodies.length] as string, authorization: `Bearer ${lone.keys[w]}`, stream: STREAM }),
			(_i, _c, s) => {
				if (!s.ok) failed++;
			},
		);
	await run(500);
	const session = await openInspector(INSPECTOR_PORT, OBJECTS ? "gateway-objects" : "gateway");
	if (SNAPSHOT) await heapSnapshot(session, () => run(1));
	else if (HEAP)
		await heapProfile(
			session,
			() => run(REQUESTS),
			() => run(1),
		);
	else await cpuProfile(session, () => run(REQUESTS));
	if (failed > 0) {
		console.log(`${failed} requests failed`);
		process.exitCode = 1;
	}
} finally {
	await lone.group.dispose();
	upstream.proc.kill();
	rmSync(dir, { recursive: true, force: true });
}

type CallFrame = ProfileNode["callFrame"];

/** A profile row's name: function, file and line (the file "(native)" for the runtime's own). */
function frameName({ functionName, url, lineNumber }: CallFrame): string {
	return `${functionName || "(anonymous)"} ${url ? url.replace(/^.*\//, "") : "(native)"}:${lineNumber + 1}`;
}

interface HeapNode {
	callFrame: CallFrame;
	selfSize: number;
	children: HeapNode[];
}

/**
 * A heap snapshot of the isolate after the warm-up (V8 collects garbage first), written to
 * BENCH_PROFILE_OUT (open it in Chrome DevTools), and its self size by kind and constructor:
 * what a full collection has to mark.
 */
async function heapSnapshot(session: Inspector, wake: () => Promise<unknown>): Promise<void> {
	const chunks: string[] = [];
	session.on("HeapProfiler.addHeapSnapshotChunk", (p) => chunks.push((p as { chunk: string }).chunk));
	await session.send("HeapProfiler.enable");
	await Promise.all([session.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false }), wake()]);
	session.close();
	const text = chunks.join("");
	if (process.env.BENCH_PROFILE_OUT) writeFileSync(process.env.BENCH_PROFILE_OUT, text);
	const snap = JSON.parse(text) as {
		snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
		nodes: number[];
		strings: string[];
	};
	const fields = snap.snapshot.meta.node_fields;
	const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((f) => fields.indexOf(f)) as [number, number, number];
	const types = snap.snapshot.meta.node_types[0];
	const bySort = new Map<string, { bytes: number; count: number }>();
	let total = 0;
	for (let i = 0; i < snap.nodes.length; i += fields.length) {
		const type = types[snap.nodes[i + typeAt] as number] as string;
		const name =
			type === "object" || type === "closure" || type === "native"
				? (snap.strings[snap.nodes[i + nameAt] as number] as string)
				: "";
		const key = `${type} ${name.slice(0, 60)}`;
		const size = snap.nodes[i + sizeAt] as number;
		const row = bySort.get(key) ?? { bytes: 0, count: 0 };
		row.bytes += size;
		row.count++;
		bySort.set(key, row);
		total += size;
	}
	console.log(`${OBJECTS ? "objects'" : "gateway's"} isolate holds ${(total / 1048576).toFixed(2)} MiB (snapshot self sizes)`);
	const rows = [...bySort.entries()]
		.sort((a, b) => b[1].bytes - a[1].bytes)
		.slice(0, Number(process.env.BENCH_PROFILE_TOP ?? 40));
	for (const [k, r] of rows) console.log(`  ${(r.bytes / 1024).toFixed(0).padStart(8)} KiB ${String(r.count).padStart(8)}  ${k}`);
}

/** Allocations during `work`, sampled, per function (self) and in all, per request. */
async function heapProfile(session: Inspector, work: () => Promise<number>, wake: () => Promise<unknown>): Promise<void> {
	await session.send("HeapProfiler.enable");
	/** Heap in use after a full collection: what the isolate still holds. */
	const heldAfterGc = async () => {
		await session.send("HeapProfiler.collectGarbage");
		return (await session.send<{ usedSize: number }>("Runtime.getHeapUsage")).usedSize;
	};
	const heldBefore = await heldAfterGc();
	// includeObjectsCollectedByMajorGC/MinorGC: count what was allocated, not what survived.
	// With SURVIVORS, leave out what a scavenge freed: what lived long enough to be promoted
	// to the old generation, the garbage only a full collection (a long pause) frees.
	await session.send("HeapProfiler.startSampling", {
		samplingInterval: Number(process.env.BENCH_HEAP_INTERVAL ?? 16384),
		includeObjectsCollectedByMajorGC: true,
		includeObjectsCollectedByMinorGC: !SURVIVORS,
	});
	const elapsed = await work();
	await new Promise((r) => setTimeout(r, 500));
	const { profile } = await session.send<{ profile: { head: HeapNode } }>("HeapProfiler.stopSampling");
	if (process.env.BENCH_PROFILE_OUT) writeFileSync(process.env.BENCH_PROFILE_OUT, JSON.stringify(profile));
	// Deferred work (batches, leases' idle close, the meter's D1 flush) lands, then a full GC:
	// what is still held grew with the run (caches, or a leak).
	await new Promise((r) => setTimeout(r, 8000));
	// workerd serves the inspector from the isolate's event loop, which sleeps while idle:
	// one request wakes it for the collection.
	const [heldAfter] = await Promise.all([heldAfterGc(), wake()]);
	session.close();
	const byFunction = new Map<string, number>();
	let total = 0;
	const walk = (node: HeapNode) => {
		const fn = frameName(node.callFrame);
		byFunction.set(fn, (byFunction.get(fn) ?? 0) + node.selfSize);
		total += node.selfSize;
		for (const child of node.children) walk(child);
	};
	walk(profile.head);
	const perRequest = (bytes: number) => `${(bytes / REQUESTS / 1024).toFixed(2)} KiB/req`;
	console.log(
		`${REQUESTS} ${STREAM ? "streamed" : "non-stream"} requests at c=${CONCURRENCY} in ${elapsed.toFixed(0)} ms; ` +
			`${OBJECTS ? "objects'" : "gateway's"} isolate allocated ${perRequest(total)} (sampled` +
			`${SURVIVORS ? "; only what survived a scavenge" : ""})`,
	);
	const rows = [...byFunction.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.BENCH_PROFILE_TOP ?? 40));
	console.log(
		`held after a full GC: ${(heldBefore / 1048576).toFixed(2)} MiB before the run, ${(heldAfter / 1048576).toFixed(2)} MiB after ` +
			`(${((heldAfter - heldBefore) / REQUESTS) | 0} bytes/req)`,
	);
	console.log(`allocated by function (self):\n${rows.map(([k, b]) => `  ${perRequest(b).padStart(16)}  ${k}`).join("\n")}`);
}

/** Self time per function, per request, while `work` runs. */
async function cpuProfile(session: Inspector, work: () => Promise<number>): Promise<void> {
	await session.send("Profiler.enable");
	await session.send("Profiler.setSamplingInterval", { interval: SAMPLING_US });
	await session.send("Profiler.start");
	const elapsed = await work();
	await new Promise((r) => setTimeout(r, 500));
	const { profile } = await session.send<{ profile: Profile }>("Profiler.stop");
	session.close();
	if (process.env.BENCH_PROFILE_OUT) writeFileSync(process.env.BENCH_PROFILE_OUT, JSON.stringify(profile));

	// Self time per node, then per function. A sample's weight is the time since the one
	// before. On a busy 2-core box the sampler thread often does not get the CPU for
	// milliseconds, and then one sample carries all that time: the sample count is shown
	// too, and how much of the time such late samples carry.
	const self = new Map<number, { us: number; n: number }>();
	let lateUs = 0;
	let late = 0;
	for (const [i, id] of profile.samples.entries()) {
		const delta = profile.timeDeltas[i] ?? 0;
		const entry = self.get(id) ?? { us: 0, n: 0 };
		entry.us += delta;
		entry.n++;
		self.set(id, entry);
		if (delta > LATE_SAMPLE_US) {
			lateUs += delta;
			late++;
		}
	}
	const byFunction = new Map<string, { us: number; n: number }>();
	let total = 0;
	for (const node of profile.nodes) {
		const { us, n } = self.get(node.id) ?? { us: 0, n: 0 };
		total += us;
		const fn = frameName(node.callFrame);
		const row = byFunction.get(fn) ?? { us: 0, n: 0 };
		row.us += us;
		row.n += n;
		byFunction.set(fn, row);
	}
	const perRequest = (us: number) => `${(us / 1000 / REQUESTS).toFixed(4)} ms/req`;
	const idle = byFunction.get("(idle) (native):0")?.us ?? 0;
	console.log(
		`${REQUESTS} ${STREAM ? "streamed" : "non-stream"} requests at c=${CONCURRENCY} in ${elapsed.toFixed(0)} ms; ` +
			`profiled ${(total / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms, busy ${perRequest(total - idle)}`,
	);
	console.log(
		`${profile.samples.length} samples (asked: one per ${SAMPLING_US} µs); ${late} came over ${LATE_SAMPLE_US / 1000} ms late and carry ` +
			`${((100 * lateUs) / Math.max(1, total)).toFixed(0)} % of the time: rows with few samples are noise`,
	);
	const top = (map: Map<string, { us: number; n: number }>, n: number) =>
		[...map.entries()]
			.filter(([k]) => !k.startsWith("(idle)"))
			.sort((a, b) => b[1].us - a[1].us)
			.slice(0, n)
			.map(([k, { us, n: samples }]) => `  ${perRequest(us).padStart(16)}  ${String(samples).padStart(6)} samples  ${k}`)
			.join("\n");
	console.log(`self time by function:\n${top(byFunction, Number(process.env.BENCH_PROFILE_TOP ?? 40))}`);
}
