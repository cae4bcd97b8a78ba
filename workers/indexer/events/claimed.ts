import { insertClaim } from "../../../lib/db/chain.ts";
import type { EventHandler } from "./types.ts";
import { big, lower } from "./types.ts";

export const onClaimed: EventHandler = (ctx, log) => [
	insertClaim(ctx.db, { ...log.key, token: log.address, account: lower(log.args.account), amount: big(log.args.amount) }),
];
