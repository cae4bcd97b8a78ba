import { describe, expect, it } from "vitest";
import { liveStatsFor } from "../../web/src/data/live.ts";

const MODEL = "acme/fresh-model";
const counters = { requests: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0, fees: "0" };
const message = (model: unknown) => JSON.stringify({ model, total: counters, last_minute: counters, updated_at: 1 });

describe("liveStatsFor", () => {
	it("takes the counters a meter sends with an empty model name before the model's first call", () => {
		expect(liveStatsFor(message(""), MODEL)).toEqual({ model: MODEL, total: counters, last_minute: counters, updated_at: 1 });
	});

	it("takes messages naming this model or none, and drops another model's", () => {
		expect(liveStatsFor(message(MODEL), MODEL)?.model).toBe(MODEL);
		expect(liveStatsFor(message(undefined), MODEL)?.model).toBe(MODEL);
		expect(liveStatsFor(message("acme/other"), MODEL)).toBeNull();
		expect(liveStatsFor("not json", MODEL)).toBeNull();
	});
});
