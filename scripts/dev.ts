// `npm start`: the local Modeldex stack on one machine, offline.
//   - the development stand-in upstream (not a model) on 127.0.0.1:8788, unless
//     MODELDEX_UPSTREAM_URL points at a real OpenAI-compatible server;
//   - the D1 migrations applied to a local database under .modeldex/state;
//   - a demo model and a demo API key;
//   - the three Workers together under `wrangler dev` on http://127.0.0.1:8787.
// State lives in .modeldex/ (ignored by git); `npm start -- --fresh` resets it.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { hashApiKey, keyPrefix, newApiKey } from "../lib/keys.ts";
import { run } from "./run.ts";
import { startStandInUpstream } from "./stand-in-upstream.ts";
import { WORKERS } from "./workers.ts";

const STATE = ".modeldex";
const PERSIST = `${STATE}/state`;
const DEMO_FILE = `${STATE}/demo.json`;
const PORT = Number(process.env.MODELDEX_PORT ?? 8787);
const DEMO_MODEL = "modeldex/demo-chat";
const DEMO_PAYER = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";

const startedAt = Date.now();
if (process.argv.includes("--fresh")) await rm(STATE, { recursive: true, force: true });
await mkdir(STATE, { recursive: true });

const stopping: Array<() => Promise<void> | void> = [];
async function shutdown(code: number): Promise<never> {
	for (const stop of stopping.reverse()) await stop();
	process.exit(code);
}
process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));

// 1. The upstream.
let upstreamUrl = process.env.MODELDEX_UPSTREAM_URL;
if (!upstreamUrl) {
	const standIn = await startStandInUpstream({ port: Number(process.env.STAND_IN_PORT ?? 8788), tokenDelayMs: 30 });
	stopping.push(() => standIn.close());
	upstreamUrl = standIn.url;
	console.log(`• development stand-in upstream (not a model): ${upstreamUrl}`);
} else {
	console.log(`• upstream: ${upstreamUrl}`);
}
const upstreamModel = process.env.MODELDEX_UPSTREAM_MODEL ?? "stand-in";
const upstreamKey = process.env.MODELDEX_UPSTREAM_API_KEY;
await writeFile(`${STATE}/dev.vars`, upstreamKey ? `UPSTREAM_KEY_DEMO=${upstreamKey}\n` : "");

// 2. The database and the demo rows.
await run("npx", ["wrangler", "d1", "migrations", "apply", "modeldex", "--local", "--persist-to", PERSIST], {
	env: { CI: "true" },
	stdio: ["ignore", "ignore", "inherit"],
});
const demo = existsSync(DEMO_FILE)
	? (JSON.parse(await readFile(DEMO_FILE, "utf8")) as { key: string })
	: { key: newApiKey(DEMO_PAYER) };
await writeFile(DEMO_FILE, JSON.stringify(demo, null, 2));
const sqlText = (v: string | null) => (v === null ? "NULL" : `'${v.replace(/'/g, "''")}'`);
const seed = [
	`INSERT INTO models (id, display_name, input_price_per_m, output_price_per_m) VALUES (${sqlText(DEMO_MODEL)}, 'Demo chat model', '200000000000000000', '600000000000000000') ON CONFLICT(id) DO NOTHING;`,
	`DELETE FROM model_upstreams WHERE model_id = ${sqlText(DEMO_MODEL)};`,
	`INSERT INTO model_upstreams (model_id, position, kind, base_url, upstream_model, api_key_secret) VALUES (${sqlText(DEMO_MODEL)}, 0, 'openai', ${sqlText(upstreamUrl)}, ${sqlText(upstreamModel)}, ${sqlText(upstreamKey ? "UPSTREAM_KEY_DEMO" : null)});`,
	`INSERT OR IGNORE INTO api_keys (id, key_hash, prefix, payer, name) VALUES ('key_demo', '${await hashApiKey(demo.key)}', ${sqlText(keyPrefix(demo.key))}, '${DEMO_PAYER}', 'demo');`,
].join("\n");
await run("npx", ["wrangler", "d1", "execute", "modeldex", "--local", "--persist-to", PERSIST, "--command", seed], {
	env: { CI: "true" },
	stdio: ["ignore", "ignore", "inherit"],
});

// 3. The Workers.
const wrangler = spawn(
	"npx",
	[
		"wrangler",
		"dev",
		...WORKERS.flatMap((w) => ["-c", w.config]),
		"--persist-to",
		PERSIST,
		"--port",
		String(PORT),
		"--ip",
		"127.0.0.1",
		"--test-scheduled",
		"--env-file",
		`${STATE}/dev.vars`,
		"--show-interactive-dev-session=false",
	],
	{ stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, WRANGLER_SEND_METRICS: "false" }, detached: true },
);
stopping.push(() => {
	if (wrangler.pid && wrangler.exitCode === null) process.kill(-wrangler.pid, "SIGTERM");
});
wrangler.on("exit", (code) => {
	console.error(`wrangler dev exited (${code}); stopping.`);
	void shutdown(code ?? 1);
});

// 4. The first call, to prove the loop before telling the user it is ready.
const api = `http://127.0.0.1:${PORT}/v1`;
const firstCall = async () =>
	fetch(`${api}/chat/completions`, {
		method: "POST",
		headers: { authorization: `Bearer ${demo.key}`, "content-type": "application/json" },
		body: JSON.stringify({ model: DEMO_MODEL, messages: [{ role: "user", content: "Hello from npm start" }], max_tokens: 8 }),
	});
for (;;) {
	try {
		const res = await firstCall();
		if (res.ok) break;
		if (res.status !== 503) throw new Error(`first call answered ${res.status}: ${await res.text()}`);
	} catch (err) {
		if (!(err instanceof TypeError)) {
			console.error(err);
			await shutdown(1);
		}
	}
	await new Promise((r) => setTimeout(r, 250));
}

console.log(`
Modeldex is running (first API call answered ${((Date.now() - startedAt) / 1000).toFixed(1)} s after start).

  API        ${api}
  model      ${DEMO_MODEL}
  API key    ${demo.key}

  curl ${api}/chat/completions \\
    -H "Authorization: Bearer ${demo.key}" -H "Content-Type: application/json" \\
    -d '{"model":"${DEMO_MODEL}","messages":[{"role":"user","content":"Hello"}]}'

  OPENAI_BASE_URL=${api} OPENAI_API_KEY=${demo.key} node -e '
    const { default: OpenAI } = await import("openai");
    const r = await new OpenAI().chat.completions.create({ model: "${DEMO_MODEL}", messages: [{ role: "user", content: "Hello" }] });
    console.log(r.choices[0].message.content)' --input-type=module

Ctrl-C stops everything.`);
