import { insertTrade } from "../../../lib/db/chain.ts";
import type { EventHandler } from "./types.ts";
import { big, lower } from "./types.ts";

export const onTrade: EventHandler = (ctx, log) => {
	const token = ctx.tokenOfSale(log.address);
	if (!token) return [];
	ctx.touched.tokens.add(token);
	const a = log.args;
	return [
		insertTrade(ctx.db, {
			...log.key,
			token,
			sale: log.address,
			trader: lower(a.trader),
			recipient: lower(a.recipient),
			isBuy: Boolean(a.isBuy),
			pacaAmount: big(a.pacaAmount),
			tokenAmount: big(a.tokenAmount),
			fee: big(a.fee),
			virtualPaca: big(a.virtualPaca),
			virtualToken: big(a.virtualToken),
		}),
	];
};
