import { insertModelSettlement } from "../../../lib/db/chain.ts";
import type { EventHandler } from "./types.ts";
import { big, lower } from "./types.ts";

export const onModelSettled: EventHandler = (ctx, log) => {
	const token = lower(log.args.model);
	ctx.touched.tokens.add(token);
	return [
		insertModelSettlement(ctx.db, {
			...log.key,
			epoch: Number(log.args.epoch),
			token,
			cumulativeFees: big(log.args.cumulativeFees),
			fees: big(log.args.fees),
		}),
	];
};
