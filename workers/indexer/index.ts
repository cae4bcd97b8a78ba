import { WorkerEntrypoint } from "cloudflare:workers";
import { jsonBigint } from "../../lib/json.ts";
import type { Env } from "./env.ts";
import { runIndexer } from "./indexer.ts";

/** A run on demand over RPC (a service binding to this entrypoint), e.g. from the local stack. */
export class IndexerJobs extends WorkerEntrypoint<Env> {
	async run() {
		const { busy, fromBlock, toBlock, logs, credited } = await runIndexer(this.env);
		return { busy, fromBlock, toBlock, logs, credited };
	}
}

// The indexer Worker: a cron every minute, and POST /run (Authorization: Bearer
// RUN_TOKEN) to trigger a run at once, e.g. right after a deposit. Work is in
// indexer.ts; this file only wires.
export default {
	async scheduled(_controller, env, _ctx): Promise<void> {
		const result = await runIndexer(env);
		if (result.busy) return console.log("indexer: another run holds the lease; skipped");
		console.log(
			`indexer: blocks ${result.fromBlock ?? "-"}..${result.toBlock ?? "-"}, ${result.logs} logs, ${result.credited} credits` +
				(result.reorg ? `, reorg to ${result.reorg.forkBlock} (${result.reorg.reversedDeposits} deposits reversed)` : ""),
		);
	},
	async fetch(request, env, _ctx): Promise<Response> {
		if (new URL(request.url).pathname !== "/run" || request.method !== "POST") return new Response("not found", { status: 404 });
		// Each run costs RPC calls: only callers holding the RUN_TOKEN secret may trigger one.
		if (!env.RUN_TOKEN || request.headers.get("authorization") !== `Bearer ${env.RUN_TOKEN}`) {
			return new Response("unauthorized", { status: 401 });
		}
		const result = await runIndexer(env);
		const body = JSON.stringify(result, jsonBigint);
		return new Response(body, { headers: { "content-type": "application/json" } });
	},
} satisfies ExportedHandler<Env>;
