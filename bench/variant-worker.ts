// The gateway, unmodified, behind an entry that swaps some of its bindings for
// in-isolate stubs, to show what each costs (bench experiment only). BENCH_STUB, set
// with esbuild's `define` (bench/build.ts), lists them, comma-separated:
//
//   ledger     every lease sync grants plenty at once and charges what it is told
//              (no ledger RPC on or off the path; the per-request path likewise)
//   meter      recordBatch()/record() answer at once (no meter RPC, no usage rows)

import app from "../workers/gateway/index.ts";

export { AccountLedger, ModelMeter } from "../workers/gateway/index.ts";

declare const BENCH_STUB: string;
const STUBS = new Set(BENCH_STUB.split(","));

const PLENTY = 10n ** 30n;
const ledger = {
	sync: async (input: { records: Array<{ cost: bigint; hold: bigint }>; now: number }) => ({
		charges: input.records.map((r) => (r.cost < r.hold ? r.cost : r.hold)),
		lease: {
			keyId: "key_bench_stub",
			allowedModels: null,
			credit: PLENTY,
			requests: 1_000_000_000,
			tokens: 1_000_000_000,
			useUntil: input.now + 5_000,
		},
		refusal: null,
	}),
	authorize: async () => ({ ok: true as const, keyId: "key_bench_stub" }),
	commit: async () => ({ charged: 0n }),
};
const breaker = { openUntil: {} };
const meter = {
	record: async () => ({ recorded: true, breaker }),
	recordBatch: async (_model: string, usages: unknown[]) => ({ recorded: usages.length, breaker }),
};

const envs = new WeakMap<object, object>();

function stubbed(env: Record<string, unknown>): object {
	let swapped = envs.get(env);
	if (!swapped) {
		swapped = {
			...env,
			...(STUBS.has("ledger") ? { ACCOUNT_LEDGER: { getByName: () => ledger } } : {}),
			...(STUBS.has("meter") ? { MODEL_METER: { getByName: () => meter } } : {}),
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
