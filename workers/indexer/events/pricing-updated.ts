import type { EventHandler } from "./types.ts";
import { lower } from "./types.ts";

export const onPricingUpdated: EventHandler = (ctx, log) => {
	ctx.touched.tokens.add(lower(log.args.token));
	return [];
};
