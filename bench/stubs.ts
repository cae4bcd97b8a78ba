// In-isolate stand-ins for the gateway's Durable Object bindings, for the bench's experiments
// (variant-worker.ts) and micro-benchmarks (path-costs-main.ts): every lease sync grants
// plenty at once and charges what it is told, every meter batch is accepted at once.

const PLENTY = 10n ** 30n;

export const ledgerStub = {
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

export const meterStub = {
	record: async () => ({ recorded: true, breaker }),
	recordBatch: async (_model: string, usages: unknown[]) => ({ recorded: usages.length, breaker }),
};
