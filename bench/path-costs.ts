// Runs bench/path-costs-main.ts: bundled with esbuild first, because the gateway's
// source uses TypeScript syntax Node's type stripping does not accept.
//
//   node bench/path-costs.ts

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";

const outfile = join(mkdtempSync(join(tmpdir(), "modeldex-path-costs-")), "main.mjs");
await build({
	entryPoints: [resolve(import.meta.dirname, "path-costs-main.ts")],
	outfile,
	bundle: true,
	format: "esm",
	platform: "node",
	target: "node22",
	logLevel: "warning",
});
try {
	await import(pathToFileURL(outfile).href);
} finally {
	rmSync(dirname(outfile), { recursive: true, force: true });
}
