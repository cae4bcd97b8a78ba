// Runs the bundled Workers in workerd through Miniflare's API (no wrangler dev
// proxy). Each measured Worker gets its own direct socket, so a request goes
// load generator → workerd → Worker with no router Worker or Node proxy between.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { type Bundles, VARIANTS, type Variant } from "./build.ts";
import { childWorkerds } from "./cpu.ts";

const ROOT = resolve(import.meta.dirname, "..");

export interface Runtime {
	urls: Record<FloorName | "gateway" | Variant, string>;
	/** Each gateway build's two workerd processes. */
	pids: Record<"gateway" | Variant, { gateway: number; objects: number }>;
	/** POST to an admin Worker: `admin` binds the gateway's objects, `admin-<variant>` a variant's. */
	admin<T>(which: string, path: string, body: unknown): Promise<T>;
	close(): Promise<void>;
}

/** The pass-through Worker's modes (passthrough-worker.ts), each a target in its own process. */
export type FloorName = "floor" | "relay" | "buffered" | "garbage";

/** High enough that no limit is reached: the bench measures cost, not refusals. */
const HIGH = 1_000_000_000;
/** The gateway's vars in the bench: per-key limits high enough never to refuse. */
export const GATEWAY_BINDINGS = {
	MAX_BODY_BYTES: "1048576",
	KEY_REQUESTS_PER_MINUTE: String(HIGH),
	KEY_TOKENS_PER_MINUTE: String(HIGH),
};

/** The gateway's Durable Object bindings: defined here, or bound from `scriptName`. */
export function objectBindings(scriptName?: string) {
	return {
		MODEL_METER: { className: "ModelMeter", useSQLite: true, ...(scriptName ? { scriptName } : {}) },
		ACCOUNT_LEDGER: { className: "AccountLedger", useSQLite: true, ...(scriptName ? { scriptName } : {}) },
	};
}

/** As wrangler.toml deploys the gateway. */
export const COMPAT = { compatibilityDate: "2026-11-01", compatibilityFlags: ["nodejs_compat", "enable_request_signal"] };
/** workerd's own output (its warnings, Workers' console) goes to stderr: stdout is the report. */
const logsToStderr = {
	handleStructuredLogs: ({ message }: { message: string }) => process.stderr.write(`${message}\n`),
};

/**
 * A gateway build in two workerd processes, as production splits it: the gateway Worker alone
 * in one (on a direct socket), and its Durable Objects (ModelMeter, AccountLedger, hosted by
 * the same bundle as `<name>-objects`), its D1 and an admin Worker in the other. workerd runs
 * a process's Workers, objects and D1 on one thread; in production the objects and D1 run in
 * their own isolates elsewhere, so sharing a thread here would put their work (lease syncs,
 * meter batches and alarms, D1 flushes and model reads) between the gateway's requests,
 * which production never does. The gateway reaches them as production does, over a
 * connection: Miniflare's dev registry binds the objects across processes (workerd's own
 * RPC over its debug port, behind a small proxy object in the gateway's process), and its
 * shared storage serves the gateway's D1 binding from the objects' process (the first
 * started owns the storage). Everything the bench asks of the group goes to `objects`.
 */
export interface GatewayGroup {
	gateway: Miniflare;
	objects: Miniflare;
	/** The gateway's direct URL, no trailing slash. */
	url: string;
	/** The two workerd processes (start groups one at a time for these to be right). */
	pids: { gateway: number; objects: number };
	dispose(): Promise<void>;
}

export async function startGatewayGroup(
	name: string,
	scripts: { gateway: string; admin: string; adminName: string },
	opts: {
		bindings?: Record<string, string>;
		inspectorPort?: number;
		objectsInspectorPort?: number;
		/** One process for all (the objects bound directly, not through the dev registry's proxy): a diagnostic. */
		sameProcess?: boolean;
	} = {},
): Promise<GatewayGroup> {
	const dir = mkdtempSync(join(tmpdir(), `modeldex-bench-${name.replace(/\W/g, "-")}-`));
	const registry = join(dir, "registry");
	const objectsName = `${name}-objects`;
	const worker = (workerName: string, scriptPath: string) => ({
		name: workerName,
		modules: true,
		scriptPath,
		modulesRoot: dirname(scriptPath),
		...COMPAT,
		d1Databases: { DB: "bench-db" },
	});
	/** One of the group's two processes: its Workers, on the group's registry and shared storage. */
	const start = async (isolated: string, workers: object[], extra: object = {}) => {
		const before = new Set(childWorkerds());
		const mf = new Miniflare({
			...convertV4MiniflareOptions({
				host: "127.0.0.1",
				port: 0,
				rootPath: ROOT,
				...logsToStderr,
				unsafeDevRegistryPath: registry,
				...extra,
				workers: workers as never,
			}),
			unsafeEnableSharedStorage: true,
			resourcePersistencePath: join(dir, "shared"),
			isolatedResourcePersistencePath: join(dir, isolated),
		} as never);
		await mf.ready;
		const pid = childWorkerds().find((p) => !before.has(p));
		if (pid === undefined) throw new Error(`could not find the workerd process of ${name} (${isolated})`);
		return { mf, pid };
	};
	const gatewayWorker = {
		...worker(name, scripts.gateway),
		bindings: { ...GATEWAY_BINDINGS, ...opts.bindings },
		durableObjects: objectBindings(objectsName),
		unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
	};
	// The objects' process first: it owns the shared storage.
	const objects = await start(
		"objects",
		[
			...(opts.sameProcess ? [gatewayWorker] : []),
			{ ...worker(objectsName, scripts.gateway), durableObjects: objectBindings() },
			{ ...worker(scripts.adminName, scripts.admin), durableObjects: objectBindings(objectsName) },
		],
		opts.objectsInspectorPort || opts.inspectorPort
			? { inspectorPort: opts.sameProcess ? opts.inspectorPort : opts.objectsInspectorPort }
			: {},
	);
	const gateway = opts.sameProcess
		? objects
		: await start("gateway", [gatewayWorker], opts.inspectorPort ? { inspectorPort: opts.inspectorPort } : {});
	const url = await directUrl(gateway.mf, name);
	return {
		gateway: gateway.mf,
		objects: objects.mf,
		url,
		pids: { gateway: gateway.pid, objects: objects.pid },
		dispose: async () => {
			await Promise.all([...(opts.sameProcess ? [] : [gateway.mf.dispose()]), objects.mf.dispose()]);
			rmSync(dir, { recursive: true, force: true });
		},
	};
}

/** POST to one of a Miniflare's admin Workers (bench/admin-worker.ts); the JSON answer. */
export async function adminPost<T>(mf: Miniflare, which: string, path: string, body: unknown): Promise<T> {
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
	// Every gateway build in its own pair of processes (startGatewayGroup), one at a time so
	// each group finds its own processes; the floor, and the same Worker relaying streams
	// through JavaScript or buffering non-stream exchanges in it, each in its own process
	// too: their JS work would slow the floor's.
	const builds: Array<["gateway" | Variant, string]> = [
		["gateway", bundles.gateway],
		...(Object.keys(VARIANTS) as Variant[]).map((v): [Variant, string] => [v, bundles.variants[v]]),
	];
	const groups = {} as Record<"gateway" | Variant, GatewayGroup>;
	for (const [name, script] of builds) {
		groups[name] = await startGatewayGroup(name, { gateway: script, admin: bundles.admin, adminName: adminOf(name) });
	}
	const [floor, relay, buffered] = await Promise.all([
		startFloor("floor", bundles.floor, upstreamUrl),
		startFloor("relay", bundles.floor, upstreamUrl),
		startFloor("buffered", bundles.floor, upstreamUrl),
	]);
	const urls = { floor: floor.url, relay: relay.url, buffered: buffered.url } as Runtime["urls"];
	const pids = {} as Runtime["pids"];
	const admins = new Map<string, Miniflare>();
	for (const [name, group] of Object.entries(groups) as Array<["gateway" | Variant, GatewayGroup]>) {
		urls[name] = group.url;
		pids[name] = group.pids;
		admins.set(adminOf(name), group.objects);
	}
	return {
		urls,
		pids,
		admin: <T>(which: string, path: string, body: unknown): Promise<T> =>
			adminPost<T>(admins.get(which) as Miniflare, which, path, body),
		close: async () => {
			await Promise.all([
				...Object.values(groups).map((g) => g.dispose()),
				floor.mf.dispose(),
				relay.mf.dispose(),
				buffered.mf.dispose(),
			]);
		},
	};
}

/** The admin Worker beside a gateway build's objects: `admin` for the gateway, `admin-<variant>` for a variant. */
function adminOf(build: "gateway" | Variant): string {
	return build === "gateway" ? "admin" : `admin-${build}`;
}

/**
 * The bare pass-through Worker (passthrough-worker.ts) alone in its own workerd on a direct
 * socket, as `floor`, `relay` (streams relayed through JavaScript) or `buffered` (non-stream
 * bodies read and parsed in JavaScript): its binding MODE.
 */
export async function startFloor(
	name: FloorName,
	scriptPath: string,
	upstreamUrl: string,
	opts: { inspectorPort?: number } = {},
): Promise<{ mf: Miniflare; url: string }> {
	const mf = new Miniflare(
		convertV4MiniflareOptions({
			host: "127.0.0.1",
			port: 0,
			rootPath: ROOT,
			...logsToStderr,
			...(opts.inspectorPort ? { inspectorPort: opts.inspectorPort } : {}),
			workers: [
				{
					name,
					modules: true,
					scriptPath,
					modulesRoot: dirname(scriptPath),
					...COMPAT,
					bindings: { UPSTREAM_URL: upstreamUrl, MODE: name },
					unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
				},
			] as never,
		}),
	);
	await mf.ready;
	return { mf, url: await directUrl(mf, name) };
}

/** A Worker's direct socket URL, without the trailing slash. */
export async function directUrl(mf: Miniflare, worker: string): Promise<string> {
	return (await mf.unsafeGetDirectURL(worker)).toString().replace(/\/$/, "");
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
 * One gateway build alone (its own pair of processes, startGatewayGroup), seeded with `payers`
 * funded keys and 4 models on `upstreamUrl`: for the CPU profile, the A/B comparison and the
 * tail trace, which look at one gateway build at a time.
 */
export async function startLoneGateway(
	scripts: { gateway: string; admin: string },
	upstreamUrl: string,
	opts: {
		payers: number;
		inspectorPort?: number;
		objectsInspectorPort?: number;
		name?: string;
		bindings?: Record<string, string>;
		sameProcess?: boolean;
	},
): Promise<{ group: GatewayGroup; base: string; keys: string[]; models: string[] }> {
	const group = await startGatewayGroup(opts.name ?? "gateway", { ...scripts, adminName: "admin" }, opts);
	const post = <T>(path: string, body: unknown): Promise<T> => adminPost<T>(group.objects, "admin", path, body);
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
	return { group, base: `${group.url}/v1`, keys: keys.map((k) => k.key), models };
}
