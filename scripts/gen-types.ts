// `wrangler types` for each Worker (binding types only; runtime types come from
// @cloudflare/workers-types). With --check, fails if any file is out of date.
import { run } from "./run.ts";
import { WORKERS } from "./workers.ts";

const check = process.argv.includes("--check");
for (const w of WORKERS) {
	await run("npx", [
		"wrangler",
		"types",
		"-c",
		w.config,
		"--include-runtime=false",
		`--env-interface=${w.envInterface}`,
		w.typesPath,
		...(check ? ["--check"] : []),
	]);
}
