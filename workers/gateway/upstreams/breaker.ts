// Circuit breaker per upstream. The model's ModelMeter keeps the authoritative
// state (it sees every outcome); each isolate keeps the last state the meter
// reported, so the request path never waits on the meter to pick an upstream.

import type { BreakerState } from "../../../durable-objects/model-meter.ts";

const known = new Map<string, BreakerState>();

export function breakerAllows(modelId: string, position: number, now: number): boolean {
	return (known.get(modelId)?.openUntil[position] ?? 0) <= now;
}

export function learnBreakerState(modelId: string, state: BreakerState): void {
	known.set(modelId, state);
}
