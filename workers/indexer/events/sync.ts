import type { EventHandler } from "./types.ts";

// Reserves of a graduated model's Uniswap V2 pool: the market price after Singularity (derive.ts).
export const onSync: EventHandler = (ctx, log) => {
	const token = ctx.tokenOfPair(log.address);
	if (token) ctx.touched.tokens.add(token);
	return [];
};
