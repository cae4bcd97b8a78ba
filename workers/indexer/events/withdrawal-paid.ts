import { insertWithdrawalPayment } from "../../../lib/db/chain.ts";
import type { EventHandler } from "./types.ts";
import { big, lower } from "./types.ts";

export const onWithdrawalPaid: EventHandler = (ctx, log) => [
	insertWithdrawalPayment(ctx.db, {
		...log.key,
		withdrawalId: lower(log.args.withdrawalId),
		payer: lower(log.args.payer),
		amount: big(log.args.amount),
	}),
];
