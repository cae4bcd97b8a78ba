import type { EventHandler } from "./types.ts";

// Graduation flips the market to "graduated" with its pool (derive.ts reads the event).
export const onGraduated: EventHandler = (ctx, log) => {
	const token = ctx.tokenOfSale(log.address);
	if (token) ctx.touched.tokens.add(token);
	return [];
};
