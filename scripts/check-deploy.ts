// Bundles each Worker exactly as `wrangler deploy` would, without uploading.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./run.ts";
import { WORKERS } from "./workers.ts";

const outRoot = await mkdtemp(join(tmpdir(), "modeldex-dry-run-"));
try {
	for (const w of WORKERS) {
		console.log(`\n== wrangler deploy --dry-run: ${w.name} (${w.config})`);
		await run("npx", ["wrangler", "deploy", "--dry-run", "-c", w.config, "--outdir", join(outRoot, w.name)]);
	}
} finally {
	await rm(outRoot, { recursive: true, force: true });
}
