// Runs the bundled Workers in workerd through Miniflare's API (no wrangler dev
// proxy). Each measured Worker gets its own direct socket, so a request goes
// load generator → workerd → Worker with no router Worker or Node proxy between.

import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { type Bundles, VARIANTS, type Variant } from "./build.ts";
import { childWorkerds } from "./cpu.ts";

const ROOT = resolve(import.meta.dirname, "..");

export interface Runtime {
	urls: Record<"floor" | "relay" | "gateway" | Variant, string>;
	/** POST to an admin Worker: `admin` binds the gateway's objects, `admin-<variant>` a variant's. */
	admin<T>(which: string, path: string, body: unknown): Promise<T>;
	close(): Promise<void>;
}

export const COMPAT = { compatibilityDate: "2026-11-01", compatibilityFlags: ["nodejs_compat"] };
/** High enough that no limit is reached: the bench measures cost, not refusals. */
const HIGH = 1_000_000_000;

/** A gateway Worker hosting its own Durable Object classes, on a direct socket. */
function gatewayWorker(name: string, scriptPath: string) {
	return {
		name,
		modules: true,
		scriptPath,
		modulesRoot: dirname(scriptPath),
		...COMPAT,
		bindings: { MAX_BODY_BYTES: "1048576", KEY_REQUESTS_PER_MINUTE: String(HIGH), KEY_TOKENS_PER_MINUTE: String(HIGH) },
		d1Databases: { DB: "bench-db" },
		durableObjects: {
			MODEL_METER: { className: "ModelMeter", useSQLite: true },
			ACCOUNT_LEDGER: { className: "AccountLedger", useSQLite: true },
		},
		unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
	};
}

function adminWorker(name: string, scriptPath: string, objectsOf: string) {
	return {
		name,
		modules: true,
		scriptPath,
		modulesRoot: dirname(scriptPath),
		...COMPAT,
		d1Databases: { DB: "bench-db" },
		durableObjects: {
			MODEL_METER: { className: "ModelMeter", scriptName: objectsOf, useSQLite: true },
			ACCOUNT_LEDGER: { className: "AccountLedger", scriptName: objectsOf, useSQLite: true },
		},
	};
}

/** POST to one of a Miniflare's admin Workers (bench/admin-worker.ts); the JSON answer. */
async function adminPost<T>(mf: Miniflare, which: string, path: string, body: unknown): Promise<T> {
	const res = await (await mf.getWorker(which)).fetch(`http://admin${path}`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify(body),
	});
	const text = await res.text();
	if (!res.ok) throw new Error(`admin ${which}${path}: HTTP ${res.status}: ${text}`);
	return JSON.parse(text) as T;
}

export async function startRuntime(bundles: Bundles, upstreamUrl: string): Promise<Runtime> {
	const variants = Object.keys(VARIANTS) as Variant[];
	// One workerd process per group: the gateway's Durable Objects and D1 do their deferred
	// work (batches, alarms, flushes) on its process's thread, and sharing that thread would
	// slow whichever target's requests ran meanwhile, the floor's included. In production
	// the objects and D1 run elsewhere; here each target carries its own.
	const groups: Array<{ names: string[]; workers: object[] }> = [
		{
			names: ["gateway", "admin"],
			workers: [gatewayWorker("gateway", bundles.gateway), adminWorker("admin", bundles.admin, "gateway")],
		},
		...variants.map((v) => ({
			names: [v, `admin-${v}`],
			workers: [gatewayWorker(v, bundles.variants[v]), adminWorker(`admin-${v}`, bundles.admin, v)],
		})),
		// The floor, and the same Worker relaying streams through JavaScript (passthrough-worker.ts),
		// each in its own process too: the relay's JS work would slow the floor's requests.
		...(["floor", "relay"] as const).map((name) => ({
			names: [name],
			workers: [
				{
					name,
					modules: true,
					scriptPath: bundles.floor,
					modulesRoot: dirname(bundles.floor),
					...COMPAT,
					bindings: { UPSTREAM_URL: upstreamUrl, RELAY: name === "relay" ? "1" : "0" },
					unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
				},
			],
		})),
	];
	const mfs = groups.map(
		(g) =>
			new Miniflare(
				convertV4MiniflareOptions({
					host: "127.0.0.1",
					port: 0,
					rootPath: ROOT,
					workers: g.workers as never,
				}),
			),
	);
	await Promise.all(mfs.map((mf) => mf.ready));
	const mfOf = new Map<string, Miniflare>();
	for (const [i, g] of groups.entries()) for (const name of g.names) mfOf.set(name, mfs[i] as Miniflare);
	const direct = async (name: string) => ((await mfOf.get(name)?.unsafeGetDirectURL(name)) ?? "").toString().replace(/\/$/, "");
	const urls = {
		floor: await direct("floor"),
		relay: await direct("relay"),
		gateway: await direct("gateway"),
	} as Runtime["urls"];
	for (const v of variants) urls[v] = await direct(v);
	const admin = <T>(which: string, path: string, body: unknown): Promise<T> =>
		adminPost<T>(mfOf.get(which) as Miniflare, which, path, body);
	return {
		urls,
		admin,
		close: async () => {
			await Promise.all(mfs.map((mf) => mf.dispose()));
		},
	};
}

/** The migration files' statements, in order (drizzle-kit separates them with a breakpoint comment). */
export function migrationStatements(): string[] {
	const journal = JSON.parse(readFileSync(resolve(ROOT, "migrations/meta/_journal.json"), "utf8")) as {
		entries: Array<{ tag: string }>;
	};
	return journal.entries.flatMap((e) =>
		readFileSync(resolve(ROOT, "migrations", `${e.tag}.sql`), "utf8")
			.split("--> statement-breakpoint")
			.map((s) => s.trim())
			.filter(Boolean),
	);
}

/** The benchmark's upstream (bench/upstream-server.ts) in its own process; resolves with its URL. */
export async function startUpstream(serviceTimeMs: number): Promise<{ url: string; proc: ChildProcess }> {
	const proc = spawn(process.execPath, [resolve(import.meta.dirname, "upstream-server.ts")], {
		stdio: ["ignore", "pipe", "inherit"],
		env: { ...process.env, BENCH_SERVICE_TIME_MS: String(serviceTimeMs) },
	});
	const url = await new Promise<string>((res, rej) => {
		proc.once("exit", (code) => rej(new Error(`upstream exited ${code}`)));
		proc.stdout?.once("data", (d) => res((JSON.parse(String(d)) as { url: string }).url));
	});
	return { url, proc };
}

/**
 * One gateway (and an admin Worker on its objects, for seeding) alone in its own workerd,
 * seeded with `payers` funded keys and 4 models on `upstreamUrl`: for the CPU profile and
 * the A/B comparison, which look at one gateway build at a time.
 */
export async function startLoneGateway(
	scripts: { gateway: string; admin: string },
	upstreamUrl: string,
	opts: { payers: number; inspectorPort?: number; name?: string },
): Promise<{ mf: Miniflare; base: string; keys: string[]; models: string[]; pid: number }> {
	const before = new Set(childWorkerds());
	const mf = new Miniflare(
		convertV4MiniflareOptions({
			host: "127.0.0.1",
			port: 0,
			...(opts.inspectorPort ? { inspectorPort: opts.inspectorPort } : {}),
			rootPath: ROOT,
			workers: [gatewayWorker("gateway", scripts.gateway), adminWorker("admin", scripts.admin, "gateway")],
		}),
	);
	await mf.ready;
	const pid = childWorkerds().find((p) => !before.has(p));
	if (pid === undefined) throw new Error("could not find the new workerd process");
	const post = <T>(path: string, body: unknown): Promise<T> => adminPost<T>(mf, "admin", path, body);
	await post("/migrate", { sql: migrationStatements() });
	const models = Array.from({ length: 4 }, (_, i) => `${opts.name ?? "lone"}/model-${i}`);
	const { keys } = await post<{ keys: Array<{ key: string }> }>("/seed", {
		upstreamUrl,
		models,
		payers: Array.from({ length: opts.payers }, (_, i) => `0x${(i + 1).toString(16).padStart(40, "c")}`),
		credit: (10n ** 24n).toString(),
		inputPricePerM: "2000000000000000",
		outputPricePerM: "6000000000000000",
	});
	const base = `${(await mf.unsafeGetDirectURL("gateway")).toString().replace(/\/$/, "")}/v1`;
	return { mf, base, keys: keys.map((k) => k.key), models, pid };
}
