import { WorkerEntrypoint } from "cloudflare:workers";
import type { Env } from "./env.ts";
import { runSettler } from "./settler.ts";

/** A run on demand over RPC (a service binding to this entrypoint), e.g. from the local stack. */
export class SettlerJobs extends WorkerEntrypoint<Env> {
	async run() {
		return runSettler(this.env, Date.now());
	}
}

// The settler Worker: closes epochs and pays withdrawals on a cron. Work is in
// settler.ts (the run) and epoch.ts (the state machine); this file only wires.
export default {
	async scheduled(controller, env, _ctx): Promise<void> {
		const result = await runSettler(env, controller.scheduledTime);
		if (result.busy) return console.log("settler: another run holds the lease; skipped");
		console.log(
			`settler: confirmed [${result.confirmed.join(", ")}], empty [${result.empty.join(", ")}]` +
				(result.pending !== null ? `, epoch ${result.pending} pending` : "") +
				(result.underfunded ? `, epoch ${result.underfunded.epoch} waits for the vault to be funded` : "") +
				(result.withdrawalPending !== null ? `, withdrawal ${result.withdrawalPending} pending (no settle sent behind it)` : "") +
				`, ${result.withdrawalsPaid} withdrawals paid`,
		);
		// The withdrawals went ahead; the run still shows as failed in the cron's history.
		if (result.failed) {
			throw new Error(
				`settler: ${result.failed.epoch === null ? "run" : `epoch ${result.failed.epoch}`} failed: ${result.failed.message}`,
			);
		}
	},
} satisfies ExportedHandler<Env>;
