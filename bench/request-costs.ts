// Where a non-stream request's CPU goes in workerd: the same exchange with the stand-in
// upstream, each Worker adding one thing the gateway does per request to the one before
// (bench/request-costs-worker.ts). Each Worker alone at c=8, BENCH_CPU_REQUESTS (1,000)
// requests, in BENCH_ROUNDS (3) rounds, the order reversed every other round; workerd CPU
// ticks from /proc per request, idle rate removed. Prints each mode's median and rounds.
//
//   node bench/request-costs.ts
//
// BENCH_LATENCY=1 instead measures latency, to find which step makes the gateway's c=1 tail:
// BENCH_REQUESTS (3,000) requests per mode, one at a time, round robin over direct and the
// modes (the order rotating per round); per mode p50, p99, p99.9 and how many requests took
// longer than `buffered`'s p99 plus a third of what buffered adds at p99 over direct (the
// gateway-overhead target's 1.3x bar, with buffered as the floor).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { bundle, VARIANTS } from "./build.ts";
import { cpuPerRequest, descendantTicks, idleTicksPerMs, median } from "./cpu.ts";
import { newTarget, percentile, requestBody, runClosedLoop, type Target } from "./load.ts";
import { adminPost, COMPAT, directUrl, GATEWAY_BINDINGS, migrationStatements, objectBindings, startUpstream } from "./runtime.ts";

const ROOT = resolve(import.meta.dirname, "..");
const MODES = ["buffered", "signal", "timer", "hono", "zod", "waituntil", "gateway-bare"] as const;
/** The gateway behind bench/variant-worker.ts with ledger and meter stubbed: every step above, and its own logic. */
const BARE = "gateway-bare";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const REQUESTS = Number(process.env.BENCH_CPU_REQUESTS ?? 1000);
const LATENCY = process.env.BENCH_LATENCY === "1";
const LATENCY_REQUESTS = Number(process.env.BENCH_REQUESTS ?? 3000);

const dir = mkdtempSync(join(tmpdir(), "modeldex-request-costs-"));
const scripts = await Promise.all(
	MODES.map((mode) =>
		mode === BARE
			? bundle("bench/variant-worker.ts", join(dir, mode, "index.js"), { BENCH_STUB: JSON.stringify(VARIANTS[BARE]) })
			: bundle("bench/request-costs-worker.ts", join(dir, mode, "index.js"), { MODE: JSON.stringify(mode) }),
	),
);
const adminScript = await bundle("bench/admin-worker.ts", join(dir, "admin", "index.js"));

const upstream = await startUpstream(5);
const mf = new Miniflare(
	convertV4MiniflareOptions({
		rootPath: ROOT,
		workers: [
			...MODES.map((mode, i) => ({
				name: mode,
				modules: true,
				scriptPath: scripts[i] as string,
				modulesRoot: dirname(scripts[i] as string),
				...COMPAT,
				bindings: { UPSTREAM_URL: upstream.url, ...(mode === BARE ? GATEWAY_BINDINGS : {}) },
				...(mode === BARE ? { d1Databases: { DB: "request-costs" }, durableObjects: objectBindings() } : {}),
				unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
			})),
			{
				name: "admin",
				modules: true,
				scriptPath: adminScript,
				modulesRoot: dirname(adminScript),
				...COMPAT,
				d1Databases: { DB: "request-costs" },
				durableObjects: objectBindings(BARE),
			},
		],
	}),
);
const body = requestBody("bench", false);
/** Any well-formed key: the stubbed ledger grants every lease. */
const KEY = `Bearer mdx_${"c".repeat(40)}_${"k".repeat(43)}`;
const results = new Map<string, number[]>(MODES.map((m) => [m, []]));
try {
	await mf.ready;
	// The gateway's D1: its tables and one model on the stand-in (no keys: the ledger is stubbed).
	await adminPost(mf, "admin", "/migrate", { sql: migrationStatements() });
	await adminPost(mf, "admin", "/seed", {
		upstreamUrl: upstream.url,
		models: ["bench"],
		payers: [],
		credit: "0",
		inputPricePerM: "1",
		outputPricePerM: "1",
	});
	const workerdTicks = () => descendantTicks("workerd");
	// Nothing is deferred past a response here (gateway-bare's ledger and meter are stubs in its
	// isolate): the 1 s after a run only lets its last connections' work land.
	const idlePerMs = await idleTicksPerMs(workerdTicks, 0);
	const targets = new Map(await Promise.all(MODES.map(async (m) => [m, newTarget(m, `${await directUrl(mf, m)}/v1`)] as const)));
	let failed = 0;
	let firstError: string | undefined;
	const run = (mode: (typeof MODES)[number]) => () =>
		runClosedLoop(
			REQUESTS,
			8,
			() => ({
				target: targets.get(mode) as ReturnType<typeof newTarget>,
				body,
				authorization: mode === BARE ? KEY : null,
				stream: false,
			}),
			(_i, _c, s) => {
				if (!s.ok) {
					failed++;
					firstError ??= s.error;
				}
			},
		);
	for (const mode of MODES) await run(mode)(); // warm-up
	if (LATENCY) {
		await latencyRounds(targets, upstream.url);
		process.exit(0);
	}
	for (let round = 0; round < ROUNDS; round++) {
		for (const mode of round % 2 === 0 ? MODES : [...MODES].reverse()) {
			const [ms = Number.NaN] = await cpuPerRequest([{ ticks: workerdTicks, idlePerMs }], REQUESTS, run(mode), 1000);
			results.get(mode)?.push(ms);
		}
		process.stderr.write(`round ${round + 1} of ${ROUNDS} done\n`);
	}
	if (failed > 0) console.log(`${failed} requests failed, the first with: ${firstError}`);
} finally {
	await mf.dispose();
	upstream.proc.kill();
	rmSync(dir, { recursive: true, force: true });
}
console.log(`workerd CPU per non-stream request, each Worker alone at c=8, ${REQUESTS} requests, ${ROUNDS} rounds:`);
for (const [mode, xs] of results) {
	console.log(`  ${mode.padEnd(10)} median ${median(xs).toFixed(3)} ms   rounds ${xs.map((x) => x.toFixed(3)).join(" ")}`);
}

/** BENCH_LATENCY=1: every mode (and direct) one request at a time, round robin; the tail of each. */
async function latencyRounds(targets: Map<string, Target>, upstreamUrl: string): Promise<void> {
	const all: Target[] = [newTarget("direct", `${upstreamUrl}/v1`), ...targets.values()];
	const ms = new Map<string, number[]>(all.map((t) => [t.name, []]));
	await runClosedLoop(
		LATENCY_REQUESTS * all.length,
		1,
		(i) => {
			const round = Math.floor(i / all.length);
			const target = all[(i + round) % all.length] as Target;
			return { target, body, authorization: target.name === BARE ? KEY : null, stream: false };
		},
		(_i, call, s) => {
			if (s.ok) ms.get(call.target.name)?.push(s.totalMs);
		},
	);
	const sorted = new Map([...ms].map(([name, xs]) => [name, xs.sort((a, b) => a - b)]));
	const p = (name: string, q: number) => percentile(sorted.get(name) ?? [], q);
	const bar = p("buffered", 99) + 0.3 * (p("buffered", 99) - p("direct", 99));
	console.log(
		`c=1, ${LATENCY_REQUESTS} requests per mode, round robin; bar ${bar.toFixed(2)} ms (buffered's p99 + 0.3 x its added p99)`,
	);
	for (const [name, xs] of sorted) {
		const over = xs.filter((x) => x > bar).length;
		console.log(
			`  ${name.padEnd(12)} n ${xs.length}  p50 ${p(name, 50).toFixed(2)}  p99 ${p(name, 99).toFixed(2)}  p99.9 ${p(name, 99.9).toFixed(2)}  over bar ${over}`,
		);
	}
}
