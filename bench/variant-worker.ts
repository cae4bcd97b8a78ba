// The gateway, unmodified, behind an entry that swaps one or both Durable Object
// bindings for in-isolate stubs, to show what each costs (bench experiment only):
//
//   BENCH_STUB = "ledger"  authorize() answers ok at once, commit() does nothing
//                          (no key check, credit hold or charge: no ledger RPCs)
//   BENCH_STUB = "meter"   record() answers at once (no meter RPC, no usage rows)
//   BENCH_STUB = "both"    the gateway's own code alone
//
// BENCH_STUB is set with esbuild's `define` when bundling (bench/build.ts).

import app from "../workers/gateway/index.ts";

export { AccountLedger, ModelMeter } from "../workers/gateway/index.ts";

declare const BENCH_STUB: "ledger" | "meter" | "both";

const ledger = {
	authorize: async () => ({ ok: true as const, keyId: "key_bench_stub" }),
	commit: async () => ({ charged: 0n }),
	release: async () => {},
};
const meter = { record: async () => ({ recorded: true, breaker: { openUntil: {} } }) };

const envs = new WeakMap<object, object>();

function stubbed(env: Record<string, unknown>): object {
	let swapped = envs.get(env);
	if (!swapped) {
		swapped = {
			...env,
			...(BENCH_STUB !== "meter" ? { ACCOUNT_LEDGER: { getByName: () => ledger } } : {}),
			...(BENCH_STUB !== "ledger" ? { MODEL_METER: { getByName: () => meter } } : {}),
		};
		envs.set(env, swapped);
	}
	return swapped;
}

export default {
	fetch(request: Request, env: Record<string, unknown>, ctx: ExecutionContext) {
		return app.fetch(request, stubbed(env) as never, ctx);
	},
};
