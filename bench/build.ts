// Bundles the Workers the benchmark runs, with esbuild and the options wrangler
// uses for the gateway (ESM, workerd conditions, `cloudflare:*` external), into a
// fresh directory under the OS temp dir (nothing is written inside the repo).
//
//   gateway            workers/gateway/index.ts, exactly as deployed
//   gateway-bare       the same gateway behind bench/variant-worker.ts with the
//                      ledger and meter bindings stubbed: its own code alone;
//   gateway-no-meter,  the same with only the meter, or only the ledger, stubbed
//   gateway-no-ledger  (what the other one costs)
//   floor              bench/passthrough-worker.ts
//   admin              bench/admin-worker.ts (seeding and inspection only)

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";

const ROOT = resolve(import.meta.dirname, "..");

/** Variant → the bindings bench/variant-worker.ts stubs in it. */
export const VARIANTS = {
	"gateway-bare": "ledger,meter",
	"gateway-no-meter": "meter",
	"gateway-no-ledger": "ledger",
} as const;
export type Variant = keyof typeof VARIANTS;

export interface Bundles {
	dir: string;
	gateway: string;
	variants: Record<Variant, string>;
	floor: string;
	admin: string;
}

/** Bundles a Worker entry (a path from the repo root, or absolute) the way wrangler does. */
export async function bundle(entry: string, outfile: string, define: Record<string, string> = {}): Promise<string> {
	await build({
		entryPoints: [resolve(ROOT, entry)],
		outfile,
		bundle: true,
		format: "esm",
		platform: "neutral",
		target: "es2024",
		conditions: ["workerd", "worker", "browser"],
		mainFields: ["browser", "module", "main"],
		external: ["cloudflare:*", "node:*"],
		// As wrangler.toml's keep_names = false and minify = true; BENCH_MINIFY=0 keeps the
		// names (bench/profile.ts does, to name functions).
		keepNames: false,
		minify: process.env.BENCH_MINIFY !== "0",
		logLevel: "warning",
		define,
	});
	return outfile;
}

/**
 * The gateway as it was at a git ref (exported with `git archive` into `dir`, not a worktree:
 * an interrupted run leaves nothing in .git), bundled; and the ref's short hash.
 */
export async function bundleGatewayAt(ref: string, dir: string): Promise<{ path: string; commit: string }> {
	const tree = join(dir, "ref-tree");
	mkdirSync(tree);
	const archive = join(dir, "ref.tar");
	execFileSync("git", ["archive", "--output", archive, ref], { cwd: ROOT });
	execFileSync("tar", ["-xf", archive, "-C", tree]);
	symlinkSync(join(ROOT, "node_modules"), join(tree, "node_modules"));
	const commit = execFileSync("git", ["rev-parse", "--short", ref], { cwd: ROOT, encoding: "utf8" }).trim();
	return { path: await bundle(join(tree, "workers/gateway/index.ts"), join(dir, "ref", "index.js")), commit };
}

export async function buildBundles(): Promise<Bundles> {
	const dir = mkdtempSync(join(tmpdir(), "modeldex-bench-"));
	const names = Object.keys(VARIANTS) as Variant[];
	const [gateway, floor, admin, ...variantPaths] = await Promise.all([
		bundle("workers/gateway/index.ts", join(dir, "gateway", "index.js")),
		bundle("bench/passthrough-worker.ts", join(dir, "floor", "index.js")),
		bundle("bench/admin-worker.ts", join(dir, "admin", "index.js")),
		...names.map((n) => bundle("bench/variant-worker.ts", join(dir, n, "index.js"), { BENCH_STUB: JSON.stringify(VARIANTS[n]) })),
	]);
	const variants = Object.fromEntries(names.map((n, i) => [n, variantPaths[i] as string])) as Record<Variant, string>;
	return { dir, gateway: gateway as string, floor: floor as string, admin: admin as string, variants };
}
