// What starting a gateway isolate costs: the gateway built from a git ref (A, default HEAD)
// and from the working tree (B), each started in a fresh workerd in turn, `BENCH_ROUNDS`
// (8) rounds, the order alternating. Per start: the time until workerd is ready (process
// start, then the script compiled and its top level evaluated, which workerd does before it
// serves) and until the first answer (`GET /v1/chain`: vars only, an empty D1 bound).
// Then the heap the isolate holds after a full collection (bench/profile.ts,
// BENCH_PROFILE_KIND=snapshot, gives what is in it).
//
//   node bench/startup.ts [ref]

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { bundle, bundleGatewayAt } from "./build.ts";
import { median } from "./cpu.ts";
import { COMPAT, directUrl } from "./runtime.ts";

const REF = process.argv[2] ?? "HEAD";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const ROOT = resolve(import.meta.dirname, "..");

const dir = mkdtempSync(join(tmpdir(), "modeldex-startup-"));
try {
	const atRef = await bundleGatewayAt(REF, dir);
	const builds = { A: atRef.path, B: await bundle("workers/gateway/index.ts", join(dir, "B", "index.js")) };
	const times: Record<string, { ready: number[]; first: number[] }> = {
		A: { ready: [], first: [] },
		B: { ready: [], first: [] },
	};
	for (let round = 0; round < ROUNDS; round++) {
		const order = round % 2 === 0 ? (["A", "B"] as const) : (["B", "A"] as const);
		for (const name of order) {
			const scriptPath = builds[name];
			const started = performance.now();
			const mf = new Miniflare(
				convertV4MiniflareOptions({
					host: "127.0.0.1",
					port: 0,
					rootPath: ROOT,
					handleStructuredLogs: () => {},
					workers: [
						{
							name: "gateway",
							modules: true,
							scriptPath,
							modulesRoot: dirname(scriptPath),
							...COMPAT,
							bindings: { CHAIN_ID: "31337" },
							d1Databases: ["DB"],
							unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
						},
					] as never,
				}),
			);
			try {
				await mf.ready;
				const ready = performance.now();
				const res = await fetch(`${await directUrl(mf, "gateway")}/v1/chain`);
				const text = await res.text();
				if (!res.ok) throw new Error(`GET /v1/chain: HTTP ${res.status}: ${text}`);
				times[name]?.ready.push(ready - started);
				times[name]?.first.push(performance.now() - started);
			} finally {
				await mf.dispose();
			}
		}
	}
	const fmt = (xs: number[]) => `${median(xs).toFixed(0)} ms (${xs.map((x) => x.toFixed(0)).join(" ")})`;
	console.log(`A: ${REF} (${atRef.commit}); B: the working tree; ${ROUNDS} starts each, medians`);
	for (const [name, t] of Object.entries(times)) console.log(`${name}  ready ${fmt(t.ready)}\n   first answer ${fmt(t.first)}`);
	const ratio = (k: "ready" | "first") => (median(times.B?.[k] ?? []) / median(times.A?.[k] ?? [])).toFixed(2);
	console.log(`B/A  ready ${ratio("ready")}, first answer ${ratio("first")}`);
} finally {
	rmSync(dir, { recursive: true, force: true });
}
