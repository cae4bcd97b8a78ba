import { describe, expect, it } from "vitest";
import { upsertHourly } from "../../lib/db/usage.ts";
import { db, newKey, newModel } from "../helpers/fixtures.ts";
import { callGateway, flushMeter } from "../helpers/gateway.ts";

const HOUR_MS = 3_600_000;
const currentHour = () => Math.floor(Date.now() / HOUR_MS) * HOUR_MS;

type UsageBody = {
	object: string;
	model: string;
	hours: number;
	data: Array<{ hour: number; requests: number; errors: number; prompt_tokens: number; completion_tokens: number; fees: string }>;
};

async function usageOf(model: string, query = ""): Promise<UsageBody> {
	const res = await callGateway(`/v1/models/${model}/usage${query}`);
	expect(res.status, res.text).toBe(200);
	return res.json();
}

function row(modelId: string, payer: string, hour: number, requests: number, fees: bigint) {
	return { modelId, payer, hour, requests, errors: 0, promptTokens: requests * 10, completionTokens: requests * 3, fees };
}

describe("GET /v1/models/{id}/usage", () => {
	it("lists every hour of the last 24, oldest first, the current hour last and zeros where nothing ran", async () => {
		const model = await newModel();
		const body = await usageOf(model);
		expect(body).toMatchObject({ object: "usage", model, hours: 24 });
		expect(body.data).toHaveLength(24);
		expect(body.data.at(-1)?.hour).toBe(currentHour() / 1000);
		expect(body.data[0]?.hour).toBe((currentHour() - 23 * HOUR_MS) / 1000);
		for (const point of body.data) expect(point).toMatchObject({ requests: 0, errors: 0, fees: "0" });
	});

	it("sums the hourly rollups over payers, fees as exact decimal strings beyond 2^64", async () => {
		const model = await newModel();
		const big = 10n ** 30n + 1n; // far beyond a float's exact range and SQLite's INTEGER
		await upsertHourly(db(), [
			row(model, "0xa", currentHour(), 2, big),
			row(model, "0xb", currentHour(), 3, big),
			row(model, "0xa", currentHour() - 2 * HOUR_MS, 1, 7n),
			// Outside the window: not counted.
			row(model, "0xa", currentHour() - 30 * HOUR_MS, 100, 1n),
		]);
		const { data } = await usageOf(model);
		expect(data.at(-1)).toEqual({
			hour: currentHour() / 1000,
			requests: 5,
			errors: 0,
			prompt_tokens: 50,
			completion_tokens: 15,
			fees: (2n * big).toString(),
		});
		expect(data.at(-3)).toMatchObject({ requests: 1, fees: "7" });
		expect(data.reduce((n, p) => n + p.requests, 0)).toBe(6);
	});

	it("shows calls made through the API once the meter has flushed them", async () => {
		const { key } = await newKey();
		const model = await newModel();
		for (let i = 0; i < 2; i++) {
			const res = await callGateway("/v1/chat/completions", {
				key,
				json: { model, max_tokens: 2, messages: [{ role: "user", content: "hi" }] },
			});
			expect(res.status).toBe(200);
		}
		await flushMeter(model);
		const last = (await usageOf(model)).data.at(-1);
		expect(last?.requests).toBe(2);
		expect(BigInt(last?.fees ?? "0")).toBeGreaterThan(0n);
	});

	it("takes ?hours= from 1 to 168 and the id raw or with its slash encoded", async () => {
		const model = await newModel();
		expect((await usageOf(model, "?hours=1")).data).toHaveLength(1);
		expect((await usageOf(model, "?hours=168")).data).toHaveLength(168);
		expect((await usageOf(encodeURIComponent(model), "?hours=3")).model).toBe(model);
	});

	it("answers 400 for a bad 'hours' and 404 for an unknown model, in OpenAI's error shape", async () => {
		const model = await newModel();
		for (const hours of ["0", "169", "1.5", "abc"]) {
			const res = await callGateway(`/v1/models/${model}/usage?hours=${hours}`);
			expect(res.status).toBe(400);
			expect(res.json().error).toMatchObject({ code: "invalid_request", param: "hours" });
		}
		const missing = await callGateway("/v1/models/nobody/nothing/usage");
		expect(missing.status).toBe(404);
		expect(missing.json().error.code).toBe("model_not_found");
	});

	it("leaves the catalogue's other model routes alone", async () => {
		const model = await newModel();
		expect((await callGateway(`/v1/models/${model}`)).json().id).toBe(model);
		expect((await callGateway(`/v1/models/${model}/stats`)).json().model).toBe(model);
	});
});
