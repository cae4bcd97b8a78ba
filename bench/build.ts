// Bundles the Workers the benchmark runs, with esbuild and the options wrangler
// uses for the gateway (ESM, workerd conditions, `cloudflare:*` external), into a
// fresh directory under the OS temp dir (nothing is written inside the repo).
//
//   gateway            workers/gateway/index.ts, exactly as deployed
//   gateway-noledger   the same source with ledgerFor() in workers/gateway/accounts.ts
//                      swapped at bundle time for a ledger that answers "ok" without
//                      a Durable Object call (the second experiment; source untouched)
//   floor              bench/passthrough-worker.ts
//   admin              bench/admin-worker.ts (seeding and inspection only)

import { mkdtempSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { build, type Plugin } from "esbuild";

const ROOT = resolve(import.meta.dirname, "..");

export interface Bundles {
	dir: string;
	gateway: string;
	gatewayNoLedger: string;
	floor: string;
	admin: string;
}

/**
 * Rewrites the gateway's accounts module at bundle time: its `ledgerFor` is renamed
 * away and replaced by one returning a ledger that authorizes everything in the
 * isolate (no Durable Object call). The rest of the module is kept as it is.
 */
const noLedger: Plugin = {
	name: "bench-no-ledger",
	setup(b) {
		b.onLoad({ filter: /workers[\\/]gateway[\\/]accounts\.ts$/ }, async (args) => {
			const source = await readFile(args.path, "utf8");
			if (!source.includes("export function ledgerFor(")) throw new Error("accounts.ts no longer exports function ledgerFor");
			const contents = `${source.replace("export function ledgerFor(", "function realLedgerFor_(")}
				const benchLedger = {
					authorize: async () => ({ ok: true as const, keyId: "key_bench_noledger" }),
					commit: async () => ({ charged: 0n }),
					release: async () => {},
					generation: async () => null,
				};
				export function ledgerFor(_env: unknown, _payer: string) { return benchLedger as never; }
				void realLedgerFor_;
			`;
			return { loader: "ts", contents, resolveDir: dirname(args.path) };
		});
	},
};

async function bundle(entry: string, outfile: string, plugins: Plugin[] = []): Promise<string> {
	await build({
		entryPoints: [join(ROOT, entry)],
		outfile,
		bundle: true,
		format: "esm",
		platform: "neutral",
		target: "es2024",
		conditions: ["workerd", "worker", "browser"],
		mainFields: ["browser", "module", "main"],
		external: ["cloudflare:*", "node:*"],
		keepNames: true,
		logLevel: "warning",
		plugins,
	});
	return outfile;
}

export async function buildBundles(): Promise<Bundles> {
	const dir = mkdtempSync(join(tmpdir(), "modeldex-bench-"));
	const [gateway, gatewayNoLedger, floor, admin] = await Promise.all([
		bundle("workers/gateway/index.ts", join(dir, "gateway", "index.js")),
		bundle("workers/gateway/index.ts", join(dir, "gateway-noledger", "index.js"), [noLedger]),
		bundle("bench/passthrough-worker.ts", join(dir, "floor", "index.js")),
		bundle("bench/admin-worker.ts", join(dir, "admin", "index.js")),
	]);
	return { dir, gateway, gatewayNoLedger, floor, admin };
}
