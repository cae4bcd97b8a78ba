import { WorkerEntrypoint } from "cloudflare:workers";
import type { LedgerService } from "../../durable-objects/account-ledger.ts";
import { ledgerFor } from "./accounts.ts";
import type { Env } from "./env.ts";

// The payer ledgers as a service for the other Workers. The indexer (deposits) and
// the settler (withdrawals) bind it with a service binding to this Worker's
// `Ledgers` entrypoint instead of binding the Durable Object namespace across
// scripts: RPC is not reachable from the Internet, and every ledger call then runs
// inside the gateway, with the same namespace locally as in production (a
// cross-process Durable Object binding under `wrangler dev` resolved names to
// different objects, so credits went missing).
export class Ledgers extends WorkerEntrypoint<Env> implements LedgerService {
	async credit(payer: string, creditId: string, amount: bigint, source: string) {
		const { applied, balance } = await ledgerFor(this.env, payer).credit(creditId, amount, source);
		return { applied, balance };
	}

	async reverseCredit(payer: string, creditId: string) {
		const { applied, amount, reversed, shortfall, balance } = await ledgerFor(this.env, payer).reverseCredit(creditId);
		return { applied, amount, reversed, shortfall, balance };
	}

	async withdrawalLock(payer: string, withdrawalId: string) {
		const lock = await ledgerFor(this.env, payer).withdrawalLock(withdrawalId);
		return lock ? { amount: lock.amount, createdAt: lock.createdAt } : null;
	}

	async refuseWithdrawal(payer: string, withdrawalId: string, amount: bigint) {
		const { refused, released } = await ledgerFor(this.env, payer).refuseWithdrawal(withdrawalId, amount);
		return { refused, released };
	}
}
