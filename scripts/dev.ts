// `npm start`: the whole Modeldex loop on this machine, offline (see scripts/stack.ts).
//   npm start                    resume the state in .modeldex/
//   npm start -- --fresh         start from nothing
// Ports and the state folder: MODELDEX_PORT (8787), MODELDEX_RPC_PORT (8545), STAND_IN_PORT (8788),
// MODELDEX_HOME (.modeldex, shared with the CLI), MODELDEX_EPOCH_SECONDS (60).
// A real model server instead of the development stand-in:
//   MODELDEX_UPSTREAM_URL=http://127.0.0.1:11434/v1 MODELDEX_UPSTREAM_MODEL=llama3.2 npm start
import { startStack } from "./stack.ts";

const startedAt = Date.now();
const env = process.env;
const port = (name: string, fallback: number) => Number(env[name] ?? fallback);
const stack = await startStack({
	fresh: process.argv.includes("--fresh"),
	stateDir: env.MODELDEX_HOME ?? ".modeldex",
	gatewayPort: port("MODELDEX_PORT", 8787),
	anvilPort: port("MODELDEX_RPC_PORT", 8545),
	standInPort: port("STAND_IN_PORT", 8788),
	epochSeconds: port("MODELDEX_EPOCH_SECONDS", 60),
	upstreamUrl: env.MODELDEX_UPSTREAM_URL,
	upstreamModel: env.MODELDEX_UPSTREAM_MODEL,
	upstreamApiKey: env.MODELDEX_UPSTREAM_API_KEY,
	childOutput: env.MODELDEX_VERBOSE ? "inherit" : "ignore",
}).catch((error: Error) => {
	// startStack has stopped what it started; a message, not a stack trace.
	console.error(`npm start: ${error.message}`);
	process.exit(1);
});
let stopping = false;
const shutdown = async () => {
	if (stopping) return;
	stopping = true;
	console.log("\nstopping…");
	await stack.stop();
	process.exit(0);
};
process.on("SIGINT", () => void shutdown());
process.on("SIGTERM", () => void shutdown());

// The first call, to prove the loop before saying it is ready.
const api = `${stack.api}/v1`;
const { modelId, apiKey } = stack.demo;
const first = await fetch(`${api}/chat/completions`, {
	method: "POST",
	headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
	body: JSON.stringify({ model: modelId, messages: [{ role: "user", content: "Hello from npm start" }], max_tokens: 8 }),
});
if (!first.ok) {
	console.error(`the first API call failed: ${first.status} ${await first.text()}`);
	await shutdown();
}

// The CLI's defaults are the default ports and ./.modeldex: other ones need its variables too.
const cliEnv = [
	stack.api !== "http://127.0.0.1:8787" ? `MODELDEX_GATEWAY_URL=${stack.api}` : "",
	stack.rpcUrl !== "http://127.0.0.1:8545" ? `MODELDEX_RPC_URL=${stack.rpcUrl}` : "",
	env.MODELDEX_HOME ? `MODELDEX_HOME=${env.MODELDEX_HOME}` : "",
]
	.filter(Boolean)
	.join(" ");
const cliSetup = cliEnv ? `\n\n  export ${cliEnv}      for the CLI (its defaults are the default ports and ./.modeldex)` : "";

console.log(`
Modeldex is running. First API call answered ${((Date.now() - startedAt) / 1000).toFixed(1)} s after start.

  API          ${api}            (docs: ${stack.api}/docs)
  dashboard    ${stack.api}/
  chain        ${stack.rpcUrl}  (anvil, chain id 31337)
  model        ${modelId}  (token ${stack.demo.token})
  payer        ${stack.demo.payer}  (1000 PACA deposited, credited by the indexer)
  API key      ${apiKey}

  curl ${api}/chat/completions \\
    -H "Authorization: Bearer ${apiKey}" -H "Content-Type: application/json" \\
    -d '{"model":"${modelId}","messages":[{"role":"user","content":"Hello"}]}'

  OPENAI_BASE_URL=${api} OPENAI_API_KEY=${apiKey} node --input-type=module -e '
    import OpenAI from "openai";
    const r = await new OpenAI().chat.completions.create({ model: "${modelId}", messages: [{ role: "user", content: "Hello" }] });
    console.log(r.choices[0].message.content)'${cliSetup}

  node cli/modeldex.ts stats ${modelId} --watch      live counters
  node cli/modeldex.ts --help                         the CLI (wallet: the demo payer)

The indexer runs every 5 s and the settler every 15 s (epochs of ${port("MODELDEX_EPOCH_SECONDS", 60)} s). Ctrl-C stops everything.`);
