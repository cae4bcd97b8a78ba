import { insertDeposit } from "../../../lib/db/chain.ts";
import type { EventHandler } from "./types.ts";
import { big, lower } from "./types.ts";

/**
 * The ledger credit id names the block hash too: if a reorg drops the deposit
 * and a later block re-includes the same transaction, that is a new credit
 * (the old one having been reversed), not a duplicate.
 */
export function depositCreditId(chainId: number, txHash: string, logIndex: number, blockHash: string): string {
	return `deposit:${chainId}:${txHash}:${logIndex}:${blockHash}`;
}

export const onDeposited: EventHandler = (ctx, log) => [
	insertDeposit(ctx.db, {
		...log.key,
		payer: lower(log.args.payer),
		sender: lower(log.args.from),
		amount: big(log.args.amount),
		creditId: depositCreditId(log.key.chainId, log.key.txHash, log.key.logIndex, log.key.blockHash),
	}),
];
