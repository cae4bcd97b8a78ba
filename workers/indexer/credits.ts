import { markCredited, markUncredited, recordReversal, runBatch, uncreditedDeposits } from "../../lib/db/chain.ts";
import type { Db } from "../../lib/db/client.ts";
import type { deposits } from "../../lib/db/schema.ts";
import { depositCreditSource } from "../../lib/money.ts";
import type { Env } from "./env.ts";

// Deposits become payer credit in the payer's AccountLedger. The ledger applies a
// credit id once, so a crash between crediting and marking the row only means
// the next run credits again and the ledger ignores it.

/**
 * Credits the indexed deposits at or below the cursor (`atOrBelow`) not yet marked credited;
 * returns how many were newly applied. Rows above the cursor were written by a run that did not
 * finish: a reorg check never looks at them, so a credit of theirs could never be reversed.
 */
export async function creditDeposits(env: Env, db: Db, chainId: number, atOrBelow: number): Promise<number> {
	let applied = 0;
	for (;;) {
		const pending = await uncreditedDeposits(db, chainId, atOrBelow);
		if (pending.length === 0) return applied;
		for (const d of pending) {
			const result = await env.LEDGERS.credit(d.payer, d.creditId, d.amount, depositCreditSource(d.txHash, d.logIndex));
			if (result.applied) applied++;
		}
		await runBatch(
			db,
			pending.map((d) => markCredited(db, chainId, d.txHash, d.logIndex)),
		);
	}
}

/** Undoes the credit of deposits a reorg removed; the shortfall (already spent) is recorded. */
export async function reverseDeposits(env: Env, db: Db, rows: Array<typeof deposits.$inferSelect>): Promise<bigint> {
	let shortfall = 0n;
	for (const d of rows) {
		const result = await env.LEDGERS.reverseCredit(d.payer, d.creditId);
		if (!result.applied && result.amount === 0n) continue; // never credited
		shortfall += result.shortfall;
		// The row is deleted next; if the rollback stops first and the chain comes back, the
		// row stays and must be credited again (the ledger applies a reversed deposit again).
		await runBatch(db, [
			recordReversal(db, {
				creditId: d.creditId,
				chainId: d.chainId,
				payer: d.payer,
				amount: d.amount,
				reversed: result.reversed,
				shortfall: result.shortfall,
				// The row goes with the rollback: the payer is still shown which deposit was reversed.
				txHash: d.txHash,
				logIndex: d.logIndex,
				blockNumber: d.blockNumber,
				sender: d.sender,
			}),
			markUncredited(db, d.chainId, d.txHash, d.logIndex),
		]);
	}
	return shortfall;
}
