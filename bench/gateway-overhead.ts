// bench/gateway-overhead: what the gateway adds, side by side in one run.
//
//   node bench/gateway-overhead.ts            (see bench/README.md for the knobs)
//
// One local OpenAI-compatible upstream (the stand-in, fixed service time, its own
// process). The same requests go, interleaved, to:
//   direct            the upstream itself
//   floor             a bare pass-through Worker in workerd (the runtime floor)
//   relay             (streams only) the same Worker relaying each chunk through JavaScript,
//                     no processing: the least a gateway that reads its streams can cost
//   buffered          (experiment, non-stream) the same Worker reading and parsing both bodies
//                     in JavaScript: the least a gateway that meters by usage can cost
//   gateway           the gateway with a real key, credit hold, meter and D1 usage
//   gateway-bare      the same gateway with ledger and meter stubbed (experiment), and
//   gateway-no-meter / gateway-no-ledger with one of them stubbed
// in three scenarios (c=1; c=32 over 32 payers × 4 models; c=32 one payer), each
// non-streaming (full response time) and streaming (time to first byte). Then one
// meter's sustained record() rate, then a correctness check of D1 usage and ledgers.

import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { loadavg, setPriority } from "node:os";
import { resolve } from "node:path";
import { buildBundles, VARIANTS, type Variant } from "./build.ts";
import {
	cpuBetween,
	cpuPerRequest,
	cpuSnapshot,
	descendantTicks,
	idleTicksPerMs,
	processTicks,
	TICK_MS,
	type TickCounter,
	workerdPids,
} from "./cpu.ts";
import {
	type Call,
	freshConnections,
	newTarget,
	onEverySample,
	percentile,
	requestBody,
	runClosedLoop,
	type Target,
} from "./load.ts";
import { migrationStatements, startRuntime, startUpstream } from "./runtime.ts";

const env = process.env;
const PER_TARGET = Number(env.BENCH_REQUESTS ?? 2000);
const SERVICE_TIME_MS = Number(env.BENCH_SERVICE_TIME_MS ?? 5);
const CONCURRENCY = Number(env.BENCH_CONCURRENCY ?? 32);
/** At c>1, targets take turns in blocks of this many requests (the 32 workers never drain between blocks). */
const BLOCK = Number(env.BENCH_BLOCK ?? 256);
const METER_RECORDS = Number(env.BENCH_METER_RECORDS ?? 10_000);
/** If set, a chunk is kept only if the rest of the machine used at most this many cores meanwhile. */
const QUIET_CORES = Number(env.BENCH_QUIET_CORES ?? Number.POSITIVE_INFINITY);
/**
 * The box is shared; by default the benchmark (and the upstream and workerd it starts,
 * which inherit it) runs at nice -10 so other processes' work yields to it.
 */
const NICE = Number(env.BENCH_NICE ?? -10);
/**
 * Requests per target in each steady-state pass (c=32 scenarios; 0 skips them), where the c=32
 * p99 targets are judged (see "Steady state" in main).
 */
const STEADY_REQUESTS = Number(env.BENCH_STEADY_REQUESTS ?? 12_000);
/** Requests each workerd target serves alone at c=32 before the steady-state passes: past its first full collection. */
const STEADY_WARM = Number(env.BENCH_STEADY_WARM ?? 40_000);
/** Requests per target per pass in the variants experiment. */
const EXP_REQUESTS = Number(env.BENCH_EXPERIMENT_REQUESTS ?? 512);
const QUIET_WAIT_MS = Number(env.BENCH_QUIET_WAIT_MS ?? 10_000);
const PAYERS = 32;
let niceApplied: number | string = "unchanged";
if (NICE !== 0) {
	try {
		setPriority(NICE);
		niceApplied = NICE;
	} catch (err) {
		niceApplied = `not applied (${(err as Error).message})`;
	}
}
const MODELS = 4;
const PRICE_IN = 2_000_000_000_000_000n; // 0.002 PACA per 1M prompt tokens
const PRICE_OUT = 6_000_000_000_000_000n;
const CREDIT = 1_000_000n * 10n ** 18n;

type Mode = "non-stream" | "stream";
type VariantName = Variant;
type TargetName = "direct" | "floor" | "relay" | "buffered" | "gateway" | VariantName;
interface Scenario {
	id: "c1" | "c32" | "c32-one";
	label: string;
	concurrency: number;
	onePayer: boolean;
}
const SCENARIOS: Scenario[] = [
	{ id: "c1", label: "c=1 (32 payers x 4 models, round robin)", concurrency: 1, onePayer: false },
	{ id: "c32", label: `c=${CONCURRENCY} (32 payers x 4 models)`, concurrency: CONCURRENCY, onePayer: false },
	{ id: "c32-one", label: `c=${CONCURRENCY} (one payer x 4 models)`, concurrency: CONCURRENCY, onePayer: true },
];

interface Stats {
	n: number;
	errors: number;
	p50: number;
	p99: number;
	p999: number;
	max: number;
	mean: number;
}
type PassResult = Record<string, Stats>;

function log(msg: string) {
	process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function stats(values: number[], errors: number): Stats {
	const sorted = [...values].sort((a, b) => a - b);
	const mean = sorted.reduce((s, v) => s + v, 0) / (sorted.length || 1);
	return {
		n: sorted.length,
		errors,
		p50: percentile(sorted, 50),
		p99: percentile(sorted, 99),
		p999: percentile(sorted, 99.9),
		max: sorted.at(-1) ?? Number.NaN,
		mean,
	};
}

function payerAddress(i: number): string {
	return `0x${(i + 1).toString(16).padStart(40, "b")}`;
}

async function main() {
	const runStarted = performance.now();
	log(
		`requests per target per pass ${PER_TARGET}, service time ${SERVICE_TIME_MS} ms, c=${CONCURRENCY}, block ${BLOCK}, ` +
			`nice ${niceApplied}, load average ${loadavg()
				.map((l) => l.toFixed(1))
				.join(" ")}`,
	);
	const upstream = await startUpstream(SERVICE_TIME_MS);
	process.on("exit", () => upstream.proc.kill("SIGTERM"));
	// Others edit the tree while the bench runs: say which gateway source was bundled.
	const git = (...args: string[]) => {
		try {
			return execFileSync("git", args, { cwd: resolve(import.meta.dirname, ".."), encoding: "utf8" }).trimEnd();
		} catch {
			return "?";
		}
	};
	const dirty = git("status", "--porcelain", "--", "workers/gateway", "durable-objects", "lib", "migrations")
		.split("\n")
		.filter(Boolean);
	const source = `gateway source: commit ${git("rev-parse", "--short", "HEAD")}${dirty.length ? ` + ${dirty.length} uncommitted file(s): ${dirty.map((l) => l.slice(3)).join(", ")}` : ""}`;
	log(source);
	const bundles = await buildBundles();
	const rt = await startRuntime(bundles, upstream.url);
	log(`upstream ${upstream.url}; workerd floor ${rt.urls.floor}, gateway ${rt.urls.gateway}; bundles in ${bundles.dir}`);

	const gwModels = Array.from({ length: MODELS }, (_, i) => `bench/model-${i}`);
	const variantNames: VariantName[] = Object.keys(VARIANTS) as Variant[];
	/** Each variant has its own Durable Objects and its own model ids, so its usage rows are its own. */
	const variantModels = Object.fromEntries(
		variantNames.map((v) => [v, Array.from({ length: MODELS }, (_, i) => `bench/${v}-model-${i}`)]),
	) as Record<VariantName, string[]>;
	const meterModel = "bench/meter-throughput";
	const payers = Array.from({ length: PAYERS }, (_, i) => payerAddress(i));
	/** What each variant stubs decides what it can be checked for. */
	const stubsOf = (v: VariantName): string => VARIANTS[v];
	/** Migrates and seeds one gateway build's D1 and objects (through its admin Worker). */
	const seed = async (admin: string, models: string[], seedPayers: string[]) => {
		await rt.admin(admin, "/migrate", { sql: migrationStatements() });
		return rt.admin<{ keys: Array<{ payer: string; key: string }> }>(admin, "/seed", {
			upstreamUrl: upstream.url,
			models,
			payers: seedPayers,
			credit: CREDIT.toString(),
			inputPricePerM: PRICE_IN.toString(),
			outputPricePerM: PRICE_OUT.toString(),
		});
	};
	const { keys } = await seed("admin", [...gwModels, meterModel], payers);
	const auth = keys.map((k) => `Bearer ${k.key}`);
	// Each variant runs in its own processes with its own D1 and objects: its models there, and,
	// if it keeps a real ledger, the same keys with the same credit.
	for (const v of variantNames) {
		await seed(`admin-${v}`, variantModels[v], []);
		if (!stubsOf(v).includes("ledger")) await rt.admin(`admin-${v}`, "/add-keys", { keys, credit: CREDIT.toString() });
	}

	const targets: Record<TargetName, Target> = {
		direct: newTarget("direct", upstream.url),
		floor: newTarget("floor", `${rt.urls.floor}/v1`),
		relay: newTarget("relay", `${rt.urls.relay}/v1`),
		buffered: newTarget("buffered", `${rt.urls.buffered}/v1`),
		gateway: newTarget("gateway", `${rt.urls.gateway}/v1`),
		...(Object.fromEntries(variantNames.map((v) => [v, newTarget(v, `${rt.urls[v]}/v1`)])) as Record<VariantName, Target>),
	};
	const mainOrder: TargetName[] = ["direct", "floor", "gateway"];
	const streamOrder: TargetName[] = ["direct", "floor", "relay", "gateway"];
	const orderFor = (mode: Mode) => (mode === "stream" ? streamOrder : mainOrder);
	const experimentOrder: TargetName[] = ["direct", "floor", "buffered", "gateway", ...variantNames];

	// Identical bodies for every target (the model id differs only for the variant, which has its own meters).
	const bodies = (models: string[]) => ({
		"non-stream": models.map((m) => requestBody(m, false)),
		stream: models.map((m) => requestBody(m, true)),
	});
	const gwBodies = bodies(gwModels);
	const variantBodies = Object.fromEntries(variantNames.map((v) => [v, bodies(variantModels[v])])) as Record<
		VariantName,
		ReturnType<typeof bodies>
	>;
	const sent = Object.fromEntries(Object.keys(targets).map((n) => [n, 0])) as Record<TargetName, number>;
	const errorKinds = new Map<string, number>();
	const noteError = (target: string, error: string | undefined) => {
		const kind = `${target}: ${error ?? "unknown"}`;
		errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
	};
	const cpuByPass: Record<string, { ours: number; others: number; discarded: number }> = {};

	/** Requests answered 200 per target: what the gateway can have recorded. */
	const answered = Object.fromEntries(Object.keys(sent).map((n) => [n, 0])) as Record<TargetName, number>;
	/** Failures inside chunks that were rerun because workerd had been restarted under the run. */
	const restartErrors = new Map<string, number>();
	let restarts = 0;
	const nameOf = new Map<Target, TargetName>((Object.keys(targets) as TargetName[]).map((n) => [targets[n], n]));
	onEverySample((call, sample) => {
		const name = nameOf.get(call.target);
		if (name && sample.ok) answered[name]++;
	});
	const makeCall = (target: TargetName, mode: Mode, payer: number, model: number): Call => {
		sent[target]++;
		// A variant has its own models; every other target takes the gateway's requests.
		const list = target in VARIANTS ? variantBodies[target as VariantName][mode] : gwBodies[mode];
		return { target: targets[target], body: list[model] ?? "", authorization: auth[payer] ?? null, stream: mode === "stream" };
	};

	const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
	/** Waits (up to QUIET_WAIT_MS) until the rest of the machine uses at most QUIET_CORES; returns what it used last. */
	async function waitForQuiet(): Promise<number> {
		const t0 = performance.now();
		let others = Number.NaN;
		do {
			const a = cpuSnapshot();
			await sleep(400);
			others = cpuBetween(a, cpuSnapshot()).others;
			if (!(others > QUIET_CORES)) return others;
		} while (performance.now() - t0 < QUIET_WAIT_MS);
		return others;
	}

	/**
	 * One pass: `perTarget` requests to every target, interleaved, run as chunks. A chunk
	 * during which the rest of the machine used more than QUIET_CORES is discarded and
	 * run again (at most as many times as there are chunks), so what another process's
	 * test run does to the box does not land in the figures.
	 */
	async function pass(scenario: Scenario, mode: Mode, perTarget: number, gated = true, order = mainOrder, tag = "") {
		const t = order.length;
		const block = scenario.concurrency === 1 ? 1 : BLOCK;
		const chunkRounds = scenario.concurrency === 1 ? 250 : 2;
		const chunks = Math.max(1, Math.ceil(perTarget / (block * chunkRounds)));
		const roundsPerChunk = Math.ceil(perTarget / block / chunks);
		const chunkTotal = roundsPerChunk * block * t;
		const seq: Record<string, number> = {};
		const kept: Record<string, { total: number[]; ttfb: number[] }> = {};
		for (const name of order) kept[name] = { total: [], ttfb: [] };
		const errors: Record<string, number> = {};
		const targetOf = new Map<Target, TargetName>(order.map((n) => [targets[n], n]));
		let keptChunks = 0;
		let discarded = 0;
		let elapsedKept = 0;
		let requestsKept = 0;
		const cpuKept = { ours: 0, others: 0 };
		for (let attempt = 0; keptChunks < chunks; attempt++) {
			if (gated) await waitForQuiet();
			const pidsBefore = workerdPids();
			const chunkErrors: Array<[string, string | undefined]> = [];
			const chunk: Record<string, { total: number[]; ttfb: number[] }> = {};
			for (const name of order) chunk[name] = { total: [], ttfb: [] };
			const cpuBefore = cpuSnapshot();
			const elapsed = await runClosedLoop(
				chunkTotal,
				scenario.concurrency,
				(i, worker) => {
					// Rounds count on across chunks (and a rerun shifts them once more), so over the pass
					// every target takes every place in the order.
					const round = keptChunks * roundsPerChunk + Math.floor(i / (block * t)) + (attempt - keptChunks);
					const name = order[(Math.floor(i / block) + round) % t] as TargetName;
					const j = (seq[name] ?? -1) + 1;
					seq[name] = j;
					const payer = scenario.onePayer ? 0 : (scenario.concurrency > 1 ? worker : j) % PAYERS;
					return makeCall(name, mode, payer, j % MODELS);
				},
				(_i, call, sample) => {
					const name = targetOf.get(call.target) as TargetName;
					if (!sample.ok) chunkErrors.push([name, sample.error]);
					chunk[name]?.total.push(sample.totalMs);
					chunk[name]?.ttfb.push(sample.ttfbMs);
				},
			);
			const cpu = cpuBetween(cpuBefore, cpuSnapshot());
			// Something outside the benchmark killed workerd (Miniflare starts it again): the
			// chunk measured a restart, not the gateway. Rerun it; keep its failures apart.
			const restarted = workerdPids() !== pidsBefore || chunkErrors.some(([, e]) => /ECONNREFUSED/.test(e ?? ""));
			if (restarted && restarts < 10) {
				restarts++;
				for (const [name, e] of chunkErrors) {
					const kind = `${name}: ${e}`;
					restartErrors.set(kind, (restartErrors.get(kind) ?? 0) + 1);
				}
				log(`  ${scenario.id} ${mode}: workerd was restarted under the run (pids ${pidsBefore} → ${workerdPids()}); chunk rerun`);
				await sleep(1000);
				continue;
			}
			for (const [name, e] of chunkErrors) {
				errors[name] = (errors[name] ?? 0) + 1;
				noteError(name, e);
			}
			if (gated && cpu.others > QUIET_CORES && discarded < chunks) {
				discarded++;
				log(`  ${scenario.id} ${mode}: chunk discarded, rest of the machine used ${cpu.others.toFixed(2)} cores`);
				continue;
			}
			keptChunks++;
			elapsedKept += elapsed;
			requestsKept += chunkTotal;
			cpuKept.ours += cpu.ours * elapsed;
			cpuKept.others += cpu.others * elapsed;
			for (const name of order) {
				kept[name]?.total.push(...(chunk[name]?.total ?? []));
				kept[name]?.ttfb.push(...(chunk[name]?.ttfb ?? []));
			}
		}
		const cpu = { ours: cpuKept.ours / elapsedKept, others: cpuKept.others / elapsedKept, discarded };
		if (scenario.label !== "warm-up")
			cpuByPass[`${scenario.id}/${mode}${order === orderFor(mode) ? "" : "/exp"}${tag ? `/${tag}` : ""}`] = cpu;
		await fetch(`${upstream.url.replace(/\/v1$/, "")}/__requests`, { method: "DELETE" });
		const result: Record<string, Stats> = {};
		for (const name of order) {
			const s = kept[name];
			if (!s) continue;
			result[name] = stats(mode === "stream" ? s.ttfb : s.total, errors[name] ?? 0);
		}
		log(
			`${scenario.id} ${mode}${tag ? ` (${tag})` : ""}: ${requestsKept} requests kept (${Math.round(requestsKept / (elapsedKept / 1000))}/s), ${discarded} chunks discarded; ` +
				order.map((n) => `${n} p50 ${result[n]?.p50.toFixed(2)}`).join(", ") +
				`; CPU cores: bench ${cpu.ours.toFixed(2)}, others ${cpu.others.toFixed(2)}`,
		);
		return result;
	}

	// ── Warm-up: every isolate, every payer's ledger, every model's meter and the model cache.
	log("warm-up");
	for (const mode of ["non-stream", "stream"] as Mode[]) {
		const warm = mode === "stream" ? [...experimentOrder, "relay" as const] : experimentOrder;
		await pass({ id: "c32", label: "warm-up", concurrency: 8, onePayer: false }, mode, 256, false, warm);
		await pass({ id: "c1", label: "warm-up", concurrency: 1, onePayer: false }, mode, 64, false, warm);
	}

	const results: Record<string, Record<Mode, PassResult>> = {};
	for (const scenario of SCENARIOS) {
		results[scenario.id] = {} as Record<Mode, PassResult>;
		for (const mode of ["non-stream", "stream"] as Mode[]) {
			(results[scenario.id] as Record<Mode, PassResult>)[mode] = (await pass(
				scenario,
				mode,
				PER_TARGET,
				true,
				orderFor(mode),
			)) as PassResult;
		}
	}

	// ── Steady state: the c=32 p99. A workerd isolate that serves requests at c=32 promotes
	// garbage to its old generation until a full collection, which holds every request in
	// flight for 40–190 ms on this box (bench/README.md, "steady state"). The floor's isolate,
	// which starts small, has its first only after 20,000–25,000 requests, later than the
	// passes above; the gateway's, which starts with its bundle's heap, after ~8,000 and then
	// about every 5,000. So whether a 2,048-request pass held one of the gateway's decided its
	// p99, against a floor that had none. Here every workerd target first serves STEADY_WARM
	// requests alone, well past its first collection (a collection can't be forced without
	// the inspector, and an inspector port lengthens every target's tail); then each serves
	// STEADY_REQUESTS, interleaved as above: two or more of its own collections each.
	const steady: Record<string, Partial<Record<Mode, PassResult>>> = {};
	if (STEADY_REQUESTS > 0) {
		log(`steady state: ${STEADY_WARM} requests to each of floor, relay and gateway alone, at c=${CONCURRENCY}`);
		for (const [name, mode] of [
			["floor", "non-stream"],
			["relay", "stream"],
			["gateway", "non-stream"],
		] as Array<[TargetName, Mode]>) {
			await runClosedLoop(
				STEADY_WARM,
				CONCURRENCY,
				(i, worker) => makeCall(name, mode, worker % PAYERS, i % MODELS),
				(_i, call, s) => {
					if (!s.ok) noteError(`${call.target.name} (steady warm-up)`, s.error);
				},
			);
		}
		for (const scenario of SCENARIOS.filter((sc) => sc.concurrency > 1)) {
			steady[scenario.id] = {};
			for (const mode of ["non-stream", "stream"] as Mode[]) {
				(steady[scenario.id] as Partial<Record<Mode, PassResult>>)[mode] = await pass(
					scenario,
					mode,
					STEADY_REQUESTS,
					true,
					orderFor(mode),
					"steady",
				);
			}
		}
	}

	// ── Experiment: the gateway's variants beside it, same interleaving, non-stream.
	log("variants experiment");
	const expScenarios = SCENARIOS.filter((sc) => sc.id !== "c32-one");
	const expResults: Record<string, PassResult> = {};
	// At c=32 at least one block per target per place in the order: a target's deferred work
	// spills into the next block, so whichever follows the gateway would pay for it.
	for (const sc of expScenarios) {
		const n = sc.concurrency === 1 ? EXP_REQUESTS : Math.max(EXP_REQUESTS, BLOCK * experimentOrder.length);
		expResults[sc.id] = await pass(sc, "non-stream", n, true, experimentOrder);
	}

	// ── Where the CPU goes: workerd CPU per request for each Worker alone, deferred work
	// (lease syncs, meter batches, the meter's D1 flush) included by waiting it out.
	log("workerd CPU per request");
	const CPU_REQUESTS = Number(env.BENCH_CPU_REQUESTS ?? 1000);
	const workerdTicks = () => descendantTicks("workerd");
	const builds = ["gateway", ...variantNames] as Array<"gateway" | Variant>;
	// Over the same window: all workerd processes, and each gateway build's own process.
	const [idlePerMs = 0, ...ownIdle] = await Promise.all([
		idleTicksPerMs(workerdTicks),
		...builds.map((b) => idleTicksPerMs(() => processTicks(rt.pids[b].gateway))),
	]);
	const ownCounter = new Map<TargetName, TickCounter>(
		builds.map((b, i) => [b, { ticks: () => processTicks(rt.pids[b].gateway), idlePerMs: ownIdle[i] ?? 0 }]),
	);
	const cpuMs: Record<string, number> = {};
	const cpuOthers: Record<string, number> = {};
	/** Of which kernel time (syscalls: sockets, SQLite files). */
	const cpuKernel: Record<string, number> = {};
	/** A gateway build's: of which its own process (the rest is its objects' and D1's, and their proxying). */
	const cpuOwn: Record<string, number> = {};
	const cpuRuns: Array<[TargetName, Mode]> = [
		...(["floor", "buffered", ...builds] as TargetName[]).map((n): [TargetName, Mode] => [n, "non-stream"]),
		["floor", "stream"],
		["relay", "stream"],
		["gateway", "stream"],
	];
	for (const [target, mode] of cpuRuns) {
		const name = mode === "stream" ? `${target} (stream)` : target;
		const snap = cpuSnapshot();
		const kernelBefore = descendantTicks("workerd", true);
		const own = ownCounter.get(target);
		const [all = Number.NaN, ownMs] = await cpuPerRequest(
			[{ ticks: workerdTicks, idlePerMs }, ...(own ? [own] : [])],
			CPU_REQUESTS,
			() =>
				runClosedLoop(
					CPU_REQUESTS,
					8,
					(i) => makeCall(target, mode, i % PAYERS, i % MODELS),
					(_i, call, s) => {
						if (!s.ok) noteError(`${call.target.name} (cpu)`, s.error);
					},
				),
		);
		cpuMs[name] = all;
		if (ownMs !== undefined) cpuOwn[name] = ownMs;
		cpuKernel[name] = ((descendantTicks("workerd", true) - kernelBefore) * TICK_MS) / CPU_REQUESTS;
		cpuOthers[name] = cpuBetween(snap, cpuSnapshot()).others;
	}
	log(
		`workerd CPU ms per request: ${Object.entries(cpuMs)
			.map(([n, v]) => `${n} ${v.toFixed(3)}`)
			.join(", ")}`,
	);

	// ── One meter's sustained record() rate: RPCs from 64 concurrent callers inside workerd.
	log("meter throughput");
	type MeterRun = { records: number; failed: number; elapsedMs: number; perSecond: number };
	const meterRunsOf = async (concurrency: number, batch: number): Promise<MeterRun[]> => {
		const runs: MeterRun[] = [];
		for (let r = 0; r < 3; r++) {
			runs.push(
				await rt.admin("admin", "/meter-bench", { modelId: meterModel, records: METER_RECORDS, concurrency, payers, batch }),
			);
		}
		return runs;
	};
	const meterRuns = await meterRunsOf(64, 1);
	// The way a busy gateway isolate calls it: recordBatch() with a full batch (64 records, MAX_BATCH in leases.ts).
	const batchRuns = await meterRunsOf(8, 64);
	// And end to end: full gateway requests, all to one model, at 2 x c (bounded by the box, not the meter).
	// The gateway's connections sat idle through the meter runs, about as long as workerd keeps them (15 s).
	freshConnections(targets.gateway);
	const oneModelSamples: number[] = [];
	const oneModelTotal = 3000;
	const oneModelMs = await runClosedLoop(
		oneModelTotal,
		CONCURRENCY * 2,
		(_i, worker) => makeCall("gateway", "non-stream", worker % PAYERS, 0),
		(_i, _c, s) => {
			oneModelSamples.push(s.totalMs);
			if (!s.ok) {
				noteError("gateway (one model)", s.error);
			}
		},
	);
	const oneModelRps = Math.round(oneModelTotal / (oneModelMs / 1000));
	log(
		`meter record(): ${meterRuns.map((m) => m.perSecond).join(", ")}/s; recordBatch(64): ${batchRuns.map((m) => m.perSecond).join(", ")}/s; full gateway, one model, c=${CONCURRENCY * 2}: ${oneModelRps}/s`,
	);

	// ── Correctness: wait for commits and meter flushes (alarm ~5 s after records), then compare.
	log("waiting for ledgers to settle and meters to flush to D1");
	interface State {
		meters: Array<{ id: string; pending: number; counters: { requests: number; fees: string } }>;
		ledgers: Array<{ payer: string; account: { held: string; totalSpent: string } }>;
		d1: Record<string, { rows: number; fees: string }>;
	}
	const readStates = async () => {
		const gw = await rt.admin<State>("admin", "/state", { models: [...gwModels, meterModel], payers });
		const vs: Partial<Record<VariantName, State>> = {};
		for (const v of variantNames) {
			vs[v] = await rt.admin<State>(`admin-${v}`, "/state", {
				models: stubsOf(v).includes("meter") ? [] : variantModels[v],
				payers: stubsOf(v).includes("ledger") ? [] : payers,
			});
		}
		return { gw, vs };
	};
	let states = await readStates();
	const deadline = Date.now() + 30_000;
	const settled = (st: State) => st.meters.every((m) => m.pending === 0) && st.ledgers.every((l) => l.account.held === "0");
	while (Date.now() < deadline && !(settled(states.gw) && Object.values(states.vs).every((st) => settled(st as State)))) {
		await sleep(500);
		states = await readStates();
	}
	const state = states.gw;
	const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);
	const gwRows = gwModels.reduce((n, m) => n + (state.d1[m]?.rows ?? 0), 0);
	const gwD1Fees = sum(gwModels.map((m) => BigInt(state.d1[m]?.fees ?? "0")));
	const meterFees = sum(state.meters.filter((m) => m.id !== meterModel).map((m) => BigInt(m.counters.fees)));
	const spent = sum(state.ledgers.map((l) => BigInt(l.account.totalSpent)));
	const held = sum(state.ledgers.map((l) => BigInt(l.account.held)));
	// Every request is the same, so each costs the same fee.
	const feeEach = gwRows > 0 ? gwD1Fees / BigInt(gwRows) : 0n;
	const meterRows = state.d1[meterModel]?.rows ?? 0;
	// `sent` - `answered` requests failed in transport (only when workerd was killed under the
	// run); such a request may or may not have reached the gateway, so a row count between
	// the two passes and says so.
	const checks: Array<{ name: string; want: string | number; got: string | number; sent?: number }> = [
		{ name: "D1 usage rows = gateway requests answered", want: answered.gateway, got: gwRows, sent: sent.gateway },
		{ name: "ledgers' totalSpent = sum of D1 fees", want: gwD1Fees.toString(), got: spent.toString() },
		{ name: "meters' fee counters = sum of D1 fees", want: gwD1Fees.toString(), got: meterFees.toString() },
		{ name: "no credit left held", want: "0", got: held.toString() },
		{
			name: "D1 usage rows = meter-bench records",
			want: (meterRuns.length + batchRuns.length) * METER_RECORDS,
			got: meterRows,
		},
	];
	for (const v of variantNames) {
		const st = states.vs[v] as State;
		if (!stubsOf(v).includes("meter")) {
			const rows = variantModels[v].reduce((n, m) => n + (st.d1[m]?.rows ?? 0), 0);
			checks.push({ name: `${v}: D1 usage rows = its requests answered`, want: answered[v], got: rows, sent: sent[v] });
		}
		if (!stubsOf(v).includes("ledger")) {
			const vSpent = sum(st.ledgers.map((l) => BigInt(l.account.totalSpent)));
			const vHeld = sum(st.ledgers.map((l) => BigInt(l.account.held)));
			checks.push({
				name: `${v}: totalSpent = requests x fee`,
				want: (feeEach * BigInt(answered[v])).toString(),
				got: vSpent.toString(),
			});
			checks.push({ name: `${v}: no credit left held`, want: "0", got: vHeld.toString() });
		}
	}
	const checked = checks.map((c) => {
		if (String(c.want) === String(c.got)) return { ...c, pass: true };
		const within = c.sent !== undefined && Number(c.got) >= Number(c.want) && Number(c.got) <= c.sent;
		return { ...c, pass: within, got: within ? `${c.got} (of ${c.sent} sent; the rest failed in transport)` : c.got };
	});

	// ── Report.
	const lines: string[] = [];
	const f = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? "   n/a" : v.toFixed(2).padStart(7));
	lines.push("");
	lines.push(
		`gateway-overhead — ${new Date().toISOString()} — upstream service time ${SERVICE_TIME_MS} ms, ${PER_TARGET} requests per cell, nice ${niceApplied}`,
	);
	lines.push(source);
	lines.push(`ms; "added" = this target's percentile minus direct's at the same percentile, same pass`);
	for (const scenario of SCENARIOS) {
		for (const mode of ["non-stream", "stream"] as Mode[]) {
			const r = results[scenario.id]?.[mode];
			if (!r) continue;
			const d = r.direct as Stats;
			lines.push("");
			const cpu = cpuByPass[`${scenario.id}/${mode}`];
			lines.push(
				`${scenario.label} — ${mode === "stream" ? "stream, time to first byte" : "non-stream, full response"}` +
					(cpu
						? ` — CPU cores: bench ${cpu.ours.toFixed(2)}, rest of the machine ${cpu.others.toFixed(2)}; ${cpu.discarded} noisy chunks rerun`
						: ""),
			);
			lines.push("  target              n  errors     p50     p99  +p50    +p99");
			for (const name of orderFor(mode)) {
				const s = r[name] as Stats;
				lines.push(
					`  ${name.padEnd(17)}${String(s.n).padStart(5)}${String(s.errors).padStart(8)}${f(s.p50)} ${f(s.p99)}` +
						(name === "direct" ? "" : ` ${f(s.p50 - d.p50)} ${f(s.p99 - d.p99)}`),
				);
			}
		}
	}

	if (Object.keys(steady).length > 0) {
		lines.push("");
		lines.push(
			`steady state: each workerd target first served ${STEADY_WARM} requests alone (past its first full collection), then ${STEADY_REQUESTS} requests per target, interleaved as above`,
		);
		for (const scenario of SCENARIOS) {
			for (const mode of ["non-stream", "stream"] as Mode[]) {
				const r = steady[scenario.id]?.[mode];
				if (!r) continue;
				const d = r.direct as Stats;
				const cpu = cpuByPass[`${scenario.id}/${mode}/steady`];
				lines.push("");
				lines.push(
					`${scenario.label} — ${mode === "stream" ? "stream, time to first byte" : "non-stream, full response"}` +
						(cpu ? ` — rest of the machine ${cpu.others.toFixed(2)} cores; ${cpu.discarded} noisy chunks rerun` : ""),
				);
				lines.push("  target              n  errors     p50     p99   p99.9     max  +p50    +p99");
				for (const name of orderFor(mode)) {
					const s = r[name] as Stats;
					lines.push(
						`  ${name.padEnd(15)}${String(s.n).padStart(7)}${String(s.errors).padStart(8)}${f(s.p50)} ${f(s.p99)} ${f(s.p999)} ${f(s.max)}` +
							(name === "direct" ? "" : ` ${f(s.p50 - d.p50)} ${f(s.p99 - d.p99)}`),
					);
				}
			}
		}
	}

	const added = (sc: string, mode: Mode, name: TargetName, p: "p50" | "p99") => {
		const r = results[sc]?.[mode];
		return (r?.[name]?.[p] ?? Number.NaN) - (r?.direct?.[p] ?? Number.NaN);
	};
	const verdicts: Array<{ target: string; value: string; pass: boolean | null }> = [];
	/**
	 * "gateway's added at most 1.3 x the floor's", as the bar itself: a ratio over a floor that added
	 * nothing or less (its percentile at or under direct's, which happens at p99) would pass any gateway.
	 */
	const withinRatio = (gateway: number, floor: number) => ({
		value: floor > 0 ? (gateway / floor).toFixed(2) : `n/a (floor ${floor.toFixed(2)} ms, gateway ${gateway.toFixed(2)} ms)`,
		pass: gateway <= 1.3 * floor,
	});
	for (const mode of ["non-stream", "stream"] as Mode[]) {
		const m = mode === "stream" ? "TTFB" : "latency";
		const diff = added("c1", mode, "gateway", "p50") - added("c1", mode, "floor", "p50");
		verdicts.push({ target: `c=1 ${m}: gateway +p50 - floor +p50 <= 0.5 ms`, value: `${diff.toFixed(2)} ms`, pass: diff <= 0.5 });
		verdicts.push({
			target: `c=${CONCURRENCY} 32 payers ${m}: gateway +p50 / floor +p50 <= 1.3`,
			...withinRatio(added("c32", mode, "gateway", "p50"), added("c32", mode, "floor", "p50")),
		});
		verdicts.push({
			target: `c=${CONCURRENCY} one payer ${m}: gateway +p50 / floor +p50 (report; 1.3)`,
			...withinRatio(added("c32-one", mode, "gateway", "p50"), added("c32-one", mode, "floor", "p50")),
		});
		for (const sc of SCENARIOS) {
			const raw = (results[sc.id]?.[mode]?.gateway?.p99 ?? Number.NaN) / (results[sc.id]?.[mode]?.floor?.p99 ?? Number.NaN);
			const short = withinRatio(added(sc.id, mode, "gateway", "p99"), added(sc.id, mode, "floor", "p99"));
			const st = steady[sc.id]?.[mode];
			if (!st) {
				verdicts.push({ target: `${sc.id} ${m}: gateway +p99 / floor +p99 <= 1.3 (raw p99 ratio ${raw.toFixed(2)})`, ...short });
				continue;
			}
			// At c=32 the p99 is judged in steady state (see steadyPass); the short pass's is reported.
			const p99Of = (name: TargetName) => (st[name]?.p99 ?? Number.NaN) - (st.direct?.p99 ?? Number.NaN);
			const steadyRaw = (st.gateway?.p99 ?? Number.NaN) / (st.floor?.p99 ?? Number.NaN);
			verdicts.push({
				target: `${sc.id} ${m}: gateway +p99 / floor +p99 <= 1.3, steady state (raw p99 ratio ${steadyRaw.toFixed(2)})`,
				...withinRatio(p99Of("gateway"), p99Of("floor")),
			});
			verdicts.push({
				target: `${sc.id} ${m}: the same over the ${PER_TARGET}-request pass (raw ${raw.toFixed(2)})`,
				value: short.value,
				pass: null,
			});
		}
	}
	// The JS relay against the same bars: what a stream costs once JavaScript touches its
	// chunks at all, whatever it does with them (reported, not a target).
	for (const sc of SCENARIOS) {
		const relay = added(sc.id, "stream", "relay", "p50");
		const floor = added(sc.id, "stream", "floor", "p50");
		const gateway = added(sc.id, "stream", "gateway", "p50");
		verdicts.push({
			target:
				sc.concurrency === 1
					? `${sc.id} TTFB, JS relay: relay +p50 - floor +p50 (gateway - relay ${(gateway - relay).toFixed(2)} ms)`
					: `${sc.id} TTFB, JS relay: relay +p50 / floor +p50 (gateway / relay ${(gateway / relay).toFixed(2)})`,
			value: sc.concurrency === 1 ? `${(relay - floor).toFixed(2)} ms` : (relay / floor).toFixed(2),
			pass: null,
		});
	}
	// The same bars for each variant, from the experiment passes (reported, not targets).
	const expAdded = (sc: string, name: TargetName) =>
		(expResults[sc]?.[name]?.p50 ?? Number.NaN) - (expResults[sc]?.direct?.p50 ?? Number.NaN);
	for (const v of ["buffered", "gateway", ...variantNames] as TargetName[]) {
		const d1 = expAdded("c1", v) - expAdded("c1", "floor");
		const r32 = withinRatio(expAdded("c32", v), expAdded("c32", "floor"));
		verdicts.push({
			target: `experiment ${v}: c=1 +p50 - floor's <= 0.5 ms (${d1.toFixed(2)}); c=32 ratio <= 1.3 (report)`,
			value: r32.value,
			pass: d1 <= 0.5 && r32.pass,
		});
	}
	// The gateway against the buffered floor, the least any metering gateway does (reported).
	{
		const over = (sc: string) => expAdded(sc, "gateway") - expAdded(sc, "buffered");
		const ratio = expAdded("c32", "gateway") / expAdded("c32", "buffered");
		verdicts.push({
			target: `experiment gateway vs buffered: c=1 +p50 difference ${over("c1").toFixed(2)} ms; c=32 +p50 ratio`,
			value: ratio.toFixed(2),
			pass: null,
		});
	}
	// Every failed request of the run: passes, warm-up, experiment, CPU and one-model runs.
	const errors = [...errorKinds.values()].reduce((n, k) => n + k, 0);
	verdicts.push({ target: "zero errors (every request of the run)", value: String(errors), pass: errors === 0 });
	const meterBest = Math.max(...meterRuns.map((m) => m.perSecond));
	const meterMedian = [...meterRuns.map((m) => m.perSecond)].sort((a, b) => a - b)[1] ?? 0;
	verdicts.push({
		target: "one meter sustains >= 2,000 record()/s (median of 3)",
		value: `${meterMedian}/s`,
		pass: meterMedian >= 2000,
	});

	if (restarts > 0) {
		lines.push("");
		lines.push(`workerd was killed from outside the benchmark ${restarts} time(s) and restarted by Miniflare; the chunks`);
		lines.push("it hit were rerun and their failures are kept apart from the error count:");
		for (const [kind, n] of restartErrors) lines.push(`  ${String(n).padStart(5)}  ${kind.replace(/\s+/g, " ").slice(0, 200)}`);
	}
	if (errorKinds.size > 0) {
		lines.push("");
		lines.push("errors");
		for (const [kind, n] of errorKinds) lines.push(`  ${String(n).padStart(5)}  ${kind.replace(/\s+/g, " ").slice(0, 200)}`);
	}
	lines.push("");
	lines.push("targets");
	for (const v of verdicts)
		lines.push(`  ${v.pass === null ? "INFO" : v.pass ? "PASS" : "MISS"}  ${v.target.padEnd(78)} ${v.value}`);

	lines.push("");
	lines.push("experiment: the gateway's variants, interleaved with it (non-stream, full response)");
	lines.push("  buffered: the floor Worker reading and parsing both bodies in JavaScript (the least a metering gateway does)");
	lines.push("  gateway-bare: ledger and meter stubbed in the isolate (the gateway's own code alone)");
	lines.push("  gateway-no-meter / gateway-no-ledger: only that one stubbed (what the other costs)");
	for (const sc of expScenarios) {
		const r = expResults[sc.id];
		if (!r) continue;
		const d = r.direct as Stats;
		const g = r.gateway as Stats;
		const cpu = cpuByPass[`${sc.id}/non-stream/exp`];
		lines.push("");
		lines.push(`${sc.label}${cpu ? ` — rest of the machine ${cpu.others.toFixed(2)} cores` : ""}`);
		lines.push("  target              n  errors     p50     p99  +p50    +p99   gateway's +p50 minus this one's");
		for (const name of experimentOrder) {
			const s = r[name] as Stats;
			lines.push(
				`  ${name.padEnd(17)}${String(s.n).padStart(5)}${String(s.errors).padStart(8)}${f(s.p50)} ${f(s.p99)}` +
					(name === "direct" ? "" : ` ${f(s.p50 - d.p50)} ${f(s.p99 - d.p99)}`) +
					(name.startsWith("gateway-") ? `   ${f(g.p50 - s.p50)}` : ""),
			);
		}
	}

	lines.push("");
	lines.push(
		`workerd CPU per request (non-stream, and streamed where marked), each Worker alone at c=8, ${CPU_REQUESTS} requests, deferred work (batches, meter flush) included:`,
	);
	for (const [name, ms] of Object.entries(cpuMs)) {
		const floorOf = name.endsWith("(stream)") ? "floor (stream)" : "floor";
		const over = name === floorOf ? "" : `  (+${(ms - (cpuMs[floorOf] ?? 0)).toFixed(3)} over floor)`;
		lines.push(
			`  ${name.padEnd(17)} ${ms.toFixed(3)} ms${over.padEnd(26)} of which kernel ${cpuKernel[name]?.toFixed(3)} ms` +
				(cpuOwn[name] === undefined ? "" : `, its own process ${cpuOwn[name]?.toFixed(3)} ms`) +
				`; rest of the machine ${cpuOthers[name]?.toFixed(2)} cores`,
		);
	}

	lines.push("");
	lines.push("meter throughput");
	lines.push(
		`  record() RPCs to one ModelMeter from 64 concurrent callers in workerd, ${METER_RECORDS} each: ` +
			`${meterRuns.map((m) => `${m.perSecond}/s`).join(", ")} (best ${meterBest}/s, failed ${meterRuns.reduce((s, m) => s + m.failed, 0)})`,
	);
	lines.push(
		`  recordBatch() of 64 records (a full batch, as a busy gateway isolate sends it), 8 concurrent callers, ${METER_RECORDS} each: ` +
			`${batchRuns.map((m) => `${m.perSecond}/s`).join(", ")} records (failed ${batchRuns.reduce((s, m) => s + m.failed, 0)})`,
	);
	const oneSorted = [...oneModelSamples].sort((a, b) => a - b);
	lines.push(
		`  full gateway requests, all to one model, c=${CONCURRENCY * 2}: ${oneModelRps}/s ` +
			`(p50 ${percentile(oneSorted, 50).toFixed(1)} ms; bounded by the 2 cores the whole path shares, not by the meter)`,
	);

	lines.push("");
	lines.push("correctness (after ledgers settled and meter alarms flushed to D1)");
	for (const c of checked) lines.push(`  ${c.pass ? "PASS" : "FAIL"}  ${c.name.padEnd(44)} want ${c.want}, got ${c.got}`);
	lines.push("");
	lines.push(`run took ${((performance.now() - runStarted) / 1000).toFixed(0)} s`);
	console.log(lines.join("\n"));

	if (env.BENCH_JSON) {
		writeFileSync(
			env.BENCH_JSON,
			JSON.stringify(
				{
					config: { PER_TARGET, SERVICE_TIME_MS, CONCURRENCY, BLOCK },
					results,
					verdicts,
					meterRuns,
					batchRuns,
					oneModelRps,
					checks: checked,
					sent,
					cpuPerRequest: cpuMs,
					cpuOwnProcess: cpuOwn,
					cpuByPass,
					expResults,
					steady,
				},
				null,
				2,
			),
		);
	}

	await rt.close();
	upstream.proc.kill("SIGTERM");
	rmSync(bundles.dir, { recursive: true, force: true });
	if (checked.some((c) => !c.pass)) process.exitCode = 1;
}

await main();
