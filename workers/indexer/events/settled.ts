import { insertSettlement } from "../../../lib/db/chain.ts";
import type { EventHandler } from "./types.ts";
import { big } from "./types.ts";

export const onSettled: EventHandler = (ctx, log) => [
	insertSettlement(ctx.db, {
		...log.key,
		epoch: Number(log.args.epoch),
		usageRoot: String(log.args.usageRoot),
		modelCount: Number(log.args.modelCount),
		totalFees: big(log.args.totalFees),
		protocolFeeBps: Number(log.args.protocolFeeBps),
		creatorFeeBps: Number(log.args.creatorFeeBps),
	}),
];
