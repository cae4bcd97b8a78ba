// The gateway as `wrangler deploy` bundles it (a dry run): what its isolate evaluates at
// startup. Everything statically imported from the entry is evaluated when an isolate
// starts and stays in its heap; a full collection marks all of it, and at c=32 on the
// benchmark box that pause was 100-200 ms with the tokenizer's vocabulary in the heap
// (bench/README.md). The vocabulary (100,000 string literals) is loaded on first count.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, runTo, tempDir, wranglerEnv } from "./helpers.ts";

interface Metafile {
	inputs: Record<string, { imports: Array<{ path: string; kind: string; external?: boolean }> }>;
	outputs: Record<string, { entryPoint?: string; inputs: Record<string, { bytesInOutput: number }> }>;
}

const VOCABULARY = "node_modules/gpt-tokenizer/esm/bpeRanks/cl100k_base.js";
/** The largest module the startup path may hold (zod's schemas, the largest today, are ~38 KB). */
const MAX_STARTUP_MODULE_BYTES = 64 * 1024;

describe("the gateway bundle wrangler deploys", () => {
	const dir = tempDir("bundle");
	let meta: Metafile;
	let bundled: Record<string, { bytesInOutput: number }>;
	/** Modules the isolate evaluates at startup: reachable from the entry by static imports. */
	const startup = new Set<string>();

	beforeAll(async () => {
		const metafile = join(dir.path, "meta.json");
		await runTo(
			join(ROOT, "node_modules", ".bin", "wrangler"),
			["deploy", "--dry-run", "--outdir", join(dir.path, "out"), "--metafile", metafile, "-c", "wrangler.toml"],
			wranglerEnv(dir.path),
		);
		meta = JSON.parse(readFileSync(metafile, "utf8")) as Metafile;
		const output = Object.values(meta.outputs).find((o) => o.entryPoint);
		if (!output?.entryPoint) throw new Error("no entry point in wrangler's metafile");
		bundled = output.inputs;
		const queue = [output.entryPoint];
		startup.add(output.entryPoint);
		while (queue.length > 0) {
			for (const i of meta.inputs[queue.pop() as string]?.imports ?? []) {
				if (i.kind === "dynamic-import" || i.external || startup.has(i.path)) continue;
				startup.add(i.path);
				queue.push(i.path);
			}
		}
	}, 120_000);
	afterAll(() => dir.remove());

	it("bundles the tokenizer's vocabulary, and reaches it only through a dynamic import", () => {
		expect(bundled[VOCABULARY]?.bytesInOutput).toBeGreaterThan(500_000);
		expect(startup.has(VOCABULARY)).toBe(false);
		expect(startup.has("workers/gateway/streaming/tokens.ts")).toBe(true);
	});

	it("evaluates no large module at startup", () => {
		const large = [...startup]
			.map((path) => ({ path, bytes: bundled[path]?.bytesInOutput ?? 0 }))
			.filter((m) => m.bytes > MAX_STARTUP_MODULE_BYTES);
		expect(large).toEqual([]);
	});
});
