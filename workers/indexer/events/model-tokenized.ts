import type { EventHandler } from "./types.ts";
import { lower } from "./types.ts";

// The market row itself is derived (derive.ts) from this event, the latest trade,
// graduation, pricing and settlement, so the same code serves apply and rollback.
export const onModelTokenized: EventHandler = (ctx, log) => {
	ctx.touched.tokens.add(lower(log.args.token));
	return [];
};
