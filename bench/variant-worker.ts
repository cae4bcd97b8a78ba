// The gateway, unmodified, behind an entry that swaps some of its bindings for
// in-isolate stubs, to show what each costs (bench experiment only). BENCH_STUB, set
// with esbuild's `define` (bench/build.ts), lists them, comma-separated:
//
//   ledger     authorize() answers ok at once, commit() does nothing
//              (no key check, credit hold or charge: no ledger RPCs)
//   commit     the real ledger's authorize() on the path, but commit()/release() after
//              the response do nothing (holds are never released: bench only)
//   meter      record() answers at once (no meter RPC, no usage rows)
//   ratelimit  KEY_RPM.limit() answers success at once. Cloudflare's binding counts
//              in memory on the machine; Miniflare emulates it with a fetch to a
//              Durable Object that writes SQLite on every call.

import app from "../workers/gateway/index.ts";

export { AccountLedger, ModelMeter } from "../workers/gateway/index.ts";

declare const BENCH_STUB: string;
const STUBS = new Set(BENCH_STUB.split(","));

const ledger = {
	authorize: async () => ({ ok: true as const, keyId: "key_bench_stub" }),
	commit: async () => ({ charged: 0n }),
	release: async () => {},
};
const meter = { record: async () => ({ recorded: true, breaker: { openUntil: {} } }) };
const rateLimit = { limit: async () => ({ success: true }) };

function authorizeOnly(env: Record<string, unknown>, name: string) {
	const real = (env.ACCOUNT_LEDGER as { getByName(n: string): { authorize(i: unknown): Promise<unknown> } }).getByName(name);
	return { authorize: (input: unknown) => real.authorize(input), commit: ledger.commit, release: ledger.release };
}

const envs = new WeakMap<object, object>();

function stubbed(env: Record<string, unknown>): object {
	let swapped = envs.get(env);
	if (!swapped) {
		swapped = {
			...env,
			...(STUBS.has("ledger") ? { ACCOUNT_LEDGER: { getByName: () => ledger } } : {}),
			...(STUBS.has("commit") ? { ACCOUNT_LEDGER: { getByName: (name: string) => authorizeOnly(env, name) } } : {}),
			...(STUBS.has("meter") ? { MODEL_METER: { getByName: () => meter } } : {}),
			...(STUBS.has("ratelimit") ? { KEY_RPM: rateLimit } : {}),
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
