import { insertTransfer } from "../../../lib/db/chain.ts";
import type { EventHandler } from "./types.ts";
import { big, lower } from "./types.ts";

const ZERO = "0x0000000000000000000000000000000000000000";

export const onTransfer: EventHandler = (ctx, log) => {
	const token = log.address;
	const from = lower(log.args.from);
	const to = lower(log.args.to);
	ctx.touched.tokens.add(token);
	if (from !== ZERO) ctx.touched.holders.add(`${token}|${from}`);
	if (to !== ZERO) ctx.touched.holders.add(`${token}|${to}`);
	return [insertTransfer(ctx.db, { ...log.key, token, from, to, value: big(log.args.value) })];
};
