// Where the gateway's JavaScript time goes: a V8 CPU profile of the gateway isolate in
// workerd (through the DevTools inspector Miniflare exposes) while it serves load,
// summarised as self time per function.
//
//   node bench/profile.ts                 (non-stream; BENCH_STREAM=1 for streamed requests)
//
// BENCH_CPU_REQUESTS (2,000) requests at c=BENCH_CONCURRENCY (8) after a warm-up, one payer
// per worker, 4 models.
// BENCH_PROFILE_OUT=<file> also writes the raw .cpuprofile (open it in Chrome DevTools).

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundle } from "./build.ts";
import { newTarget, requestBody, runClosedLoop } from "./load.ts";
import { startLoneGateway, startUpstream } from "./runtime.ts";

const REQUESTS = Number(process.env.BENCH_CPU_REQUESTS ?? 2000);
const STREAM = process.env.BENCH_STREAM === "1";
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const INSPECTOR_PORT = 9329;

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

const dir = mkdtempSync(join(tmpdir(), "modeldex-profile-"));
const [gateway, admin] = await Promise.all([
	bundle("workers/gateway/index.ts", join(dir, "gateway", "index.js")),
	bundle("bench/admin-worker.ts", join(dir, "admin", "index.js")),
]);
const upstream = await startUpstream(5);
const lone = await startLoneGateway({ gateway, admin }, upstream.url, { payers: CONCURRENCY, inspectorPort: INSPECTOR_PORT });

/** One DevTools protocol session over the inspector's WebSocket. */
async function inspector(workerName: string) {
	const list = (await (await fetch(`http://127.0.0.1:${INSPECTOR_PORT}/json/list`)).json()) as Array<{
		title?: string;
		webSocketDebuggerUrl: string;
	}>;
	const entry = list.find((e) => e.title?.includes(workerName)) ?? list[0];
	if (!entry) throw new Error("no inspector target");
	const ws = new WebSocket(entry.webSocketDebuggerUrl);
	await new Promise((res, rej) => {
		ws.onopen = res;
		ws.onerror = rej;
	});
	let next = 1;
	const waiting = new Map<number, (result: unknown) => void>();
	ws.onmessage = (event) => {
		const msg = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: unknown };
		if (msg.id !== undefined)
			waiting.get(msg.id)?.(msg.error ? Promise.reject(new Error(JSON.stringify(msg.error))) : msg.result);
	};
	return {
		send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
			const id = next++;
			ws.send(JSON.stringify({ id, method, params }));
			return new Promise<T>((res) => waiting.set(id, res as (r: unknown) => void));
		},
		close: () => ws.close(),
	};
}

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
	const session = await inspector("gateway");
	await session.send("Profiler.enable");
	await session.send("Profiler.setSamplingInterval", { interval: 100 });
	await session.send("Profiler.start");
	const elapsed = await run(REQUESTS);
	await new Promise((r) => setTimeout(r, 500));
	const { profile } = await session.send<{ profile: Profile }>("Profiler.stop");
	session.close();
	if (process.env.BENCH_PROFILE_OUT) writeFileSync(process.env.BENCH_PROFILE_OUT, JSON.stringify(profile));

	// Self time per node, then per function and per file.
	const self = new Map<number, number>();
	for (const [i, id] of profile.samples.entries()) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
	const byFunction = new Map<string, number>();
	let total = 0;
	for (const node of profile.nodes) {
		const us = self.get(node.id) ?? 0;
		total += us;
		const { functionName, url, lineNumber } = node.callFrame;
		const file = url ? url.replace(/^.*\//, "") : "(native)";
		const fn = `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
		byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
	}
	const perRequest = (us: number) => `${(us / 1000 / REQUESTS).toFixed(4)} ms/req`;
	const idle = byFunction.get("(idle) (native):0") ?? 0;
	console.log(
		`${REQUESTS} ${STREAM ? "streamed" : "non-stream"} requests at c=${CONCURRENCY} in ${elapsed.toFixed(0)} ms, failed ${failed}; ` +
			`profiled ${(total / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms, busy ${perRequest(total - idle)}`,
	);
	const top = (map: Map<string, number>, n: number) =>
		[...map.entries()]
			.filter(([k]) => !k.startsWith("(idle)"))
			.sort((a, b) => b[1] - a[1])
			.slice(0, n)
			.map(([k, us]) => `  ${perRequest(us).padStart(16)}  ${k}`)
			.join("\n");
	console.log(`self time by function:\n${top(byFunction, Number(process.env.BENCH_PROFILE_TOP ?? 40))}`);
} finally {
	await lone.group.dispose();
	upstream.proc.kill();
	rmSync(dir, { recursive: true, force: true });
}
