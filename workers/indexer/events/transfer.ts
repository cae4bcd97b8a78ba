import { zeroAddress } from "viem";
import { insertTransfer } from "../../../lib/db/chain.ts";
import type { EventHandler } from "./types.ts";
import { big, lower } from "./types.ts";

export const onTransfer: EventHandler = (ctx, log) => {
	const token = log.address;
	const from = lower(log.args.from);
	const to = lower(log.args.to);
	ctx.touched.tokens.add(token);
	if (from !== zeroAddress) ctx.touched.holders.add(`${token}|${from}`);
	if (to !== zeroAddress) ctx.touched.holders.add(`${token}|${to}`);
	return [insertTransfer(ctx.db, { ...log.key, token, from, to, value: big(log.args.value) })];
};
