import type { Env } from "./env.ts";
import type { SettlerContext } from "./epoch.ts";

// Placeholder until the withdrawal queue is wired (see the report): nothing queued, nothing paid.
export async function payWithdrawals(_ctx: SettlerContext, _env: Env): Promise<number> {
	return 0;
}
