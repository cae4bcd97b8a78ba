// The gateway, unmodified, behind an entry that swaps some of its bindings for
// in-isolate stubs, to show what each costs (bench experiment only). BENCH_STUB, set
// with esbuild's `define` (bench/build.ts), lists them, comma-separated:
//
//   ledger     every lease sync grants plenty at once and charges what it is told
//              (no ledger RPC on or off the path; the per-request path likewise)
//   meter      recordBatch()/record() answer at once (no meter RPC, no usage rows)

import app from "../workers/gateway/index.ts";
import { ledgerStub, meterStub } from "./stubs.ts";

export { AccountLedger, ModelMeter } from "../workers/gateway/index.ts";

declare const BENCH_STUB: string;
const STUBS = new Set(BENCH_STUB.split(","));

const envs = new WeakMap<object, object>();

function stubbed(env: Record<string, unknown>): object {
	let swapped = envs.get(env);
	if (!swapped) {
		swapped = {
			...env,
			...(STUBS.has("ledger") ? { ACCOUNT_LEDGER: { getByName: () => ledgerStub } } : {}),
			...(STUBS.has("meter") ? { MODEL_METER: { getByName: () => meterStub } } : {}),
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
