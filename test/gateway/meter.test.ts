import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { and, eq } from "drizzle-orm";
import { describe, expect, it, vi } from "vitest";
import type { ModelMeter } from "../../durable-objects/model-meter.ts";
import { usageHourly } from "../../lib/db/schema.ts";
import { db, newKey, newModel } from "../helpers/fixtures.ts";
import { callGateway, flushMeter, meterOf, openGateway, usageRowsForModel } from "../helpers/gateway.ts";

/** A finished request as the gateway would send it to the meter. */
function usageRecord(payer = "0xabc", fee = 8n) {
	return {
		requestId: `req_${crypto.randomUUID().replace(/-/g, "")}`,
		keyId: "key_x",
		payer,
		promptTokens: 1,
		completionTokens: 1,
		fee,
		status: "ok" as const,
		usageSource: "upstream" as const,
		createdAt: Date.now(),
	};
}

/**
 * Runs the meter's flush alarm (as the runtime does: the alarm is cleared, then alarm() runs)
 * with its D1 binding wrapped: `onBatch(i, run)` stands in for the flush's i-th D1 batch
 * (0: usage rows, 1: hourly rollups) and calls `run()` to send it to the real D1.
 */
async function flushWithD1(
	model: string,
	onBatch: (i: number, run: () => Promise<unknown>, meter: ModelMeter) => Promise<unknown>,
): Promise<void> {
	await runInDurableObject(meterOf(model), async (meter: ModelMeter, state: DurableObjectState) => {
		const self = meter as unknown as { env: TestEnv };
		const realEnv = self.env;
		const real = realEnv.DB;
		let batches = 0;
		const DB = new Proxy(real, {
			get(target, prop) {
				if (prop === "batch") {
					return (statements: D1PreparedStatement[]) => onBatch(batches++, () => target.batch(statements), meter);
				}
				const value = Reflect.get(target, prop);
				return typeof value === "function" ? value.bind(target) : value;
			},
		});
		self.env = { ...realEnv, DB };
		try {
			await state.storage.deleteAlarm();
			await meter.alarm();
		} finally {
			self.env = realEnv;
		}
	});
}

async function hourlyTotals(model: string, payer: string) {
	const hourly = await db()
		.select()
		.from(usageHourly)
		.where(and(eq(usageHourly.modelId, model), eq(usageHourly.payer, payer)))
		.all();
	return { requests: hourly.reduce((s, h) => s + h.requests, 0), fees: hourly.reduce((s, h) => s + h.fees, 0n) };
}

async function calls(model: string, key: string, n: number) {
	for (let i = 0; i < n; i++) {
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, max_tokens: 2, messages: [{ role: "user", content: "hi" }] },
		});
		expect(res.status).toBe(200);
	}
}

describe("ModelMeter durability", () => {
	it("loses nothing when the meter is evicted before its flush", async () => {
		const { key } = await newKey();
		const model = await newModel();
		await calls(model, key, 3);
		await evictDurableObject(meterOf(model));
		expect(await meterOf(model).pendingFlush()).toBe(3);
		await flushMeter(model);
		const rows = await usageRowsForModel(model);
		expect(rows).toHaveLength(3);
		expect((await meterOf(model).counters()).requests).toBe(3);
	});

	it("records a request id once even if the gateway records it twice", async () => {
		const model = await newModel();
		const record = {
			requestId: `req_${crypto.randomUUID().replace(/-/g, "")}`,
			keyId: "key_x",
			payer: "0xabc",
			promptTokens: 1,
			completionTokens: 1,
			fee: 8n,
			status: "ok" as const,
			usageSource: "upstream" as const,
			createdAt: Date.now(),
		};
		expect((await meterOf(model).record(model, record)).recorded).toBe(true);
		expect((await meterOf(model).record(model, record)).recorded).toBe(false);
		expect((await meterOf(model).counters()).fees).toBe(8n);
	});

	it("counts a retried batch's upstream failures once (they do not open the breaker twice over)", async () => {
		const model = await newModel();
		const failed = (i: number) => ({
			requestId: `req_${crypto.randomUUID().replace(/-/g, "")}`,
			keyId: "key_x",
			payer: "0xabc",
			promptTokens: 0,
			completionTokens: 0,
			fee: 0n,
			status: "error" as const,
			usageSource: "none" as const,
			createdAt: Date.now() + i,
			upstreams: [{ position: 0, ok: false }],
		});
		// Two failures: below the three that open the breaker, however often the batch is sent.
		const batch = [failed(0), failed(1)];
		await meterOf(model).recordBatch(model, batch);
		const again = await meterOf(model).recordBatch(model, batch);
		expect(again.recorded).toBe(0);
		expect(again.breaker.openUntil[0] ?? 0).toBeLessThanOrEqual(Date.now());
	});

	it("keeps per-payer hourly rollups in D1 that add up to the usage rows", async () => {
		const a = await newKey();
		const b = await newKey();
		const model = await newModel();
		await calls(model, a.key, 2);
		await calls(model, b.key, 1);
		await flushMeter(model);
		const rows = await usageRowsForModel(model);
		for (const who of [a, b]) {
			const hourly = await db()
				.select()
				.from(usageHourly)
				.where(and(eq(usageHourly.modelId, model), eq(usageHourly.payer, who.payer)))
				.all();
			const mine = rows.filter((r) => r.payer === who.payer);
			expect(hourly.reduce((s, h) => s + h.requests, 0)).toBe(mine.length);
			expect(hourly.reduce((s, h) => s + h.fees, 0n)).toBe(mine.reduce((s, r) => s + r.fee, 0n));
		}
		// A second flush rewrites the same totals, never doubles them.
		await calls(model, a.key, 1);
		await flushMeter(model);
		await flushMeter(model);
		const again = await db()
			.select()
			.from(usageHourly)
			.where(and(eq(usageHourly.modelId, model), eq(usageHourly.payer, a.payer)))
			.all();
		expect(again.reduce((s, h) => s + h.requests, 0)).toBe(3);
	});

	it("keeps the hourly rollup of a request recorded while the flush is writing D1 (it is not marked flushed)", async () => {
		const model = await newModel();
		await meterOf(model).recordBatch(model, [usageRecord("0xabc", 8n)]);
		// A batch for the same hour and payer lands while the flush awaits D1's upsert of the
		// rollups: input gates are open during outgoing I/O, so this interleaving is real.
		await flushWithD1(model, async (i, run, meter) => {
			const sent = run();
			if (i === 1) await meter.recordBatch(model, [usageRecord("0xabc", 5n)]);
			return sent;
		});
		// The batch armed a new flush; it must carry the rollup the first one missed.
		await flushMeter(model);
		const rows = await usageRowsForModel(model);
		expect(rows).toHaveLength(2);
		expect(await hourlyTotals(model, "0xabc")).toEqual({ requests: 2, fees: 13n });
	});
});

describe("ModelMeter flush when D1 fails", () => {
	it("re-arms its alarm with a growing delay, and flushes everything once D1 is back", async () => {
		const model = await newModel();
		await meterOf(model).recordBatch(model, [usageRecord("0xabc", 8n)]);
		const nextFlushIn = () =>
			runInDurableObject(meterOf(model), async (_: ModelMeter, state: DurableObjectState) => {
				const at = await state.storage.getAlarm();
				return at === null ? null : at - Date.now();
			});
		const logged = vi.spyOn(console, "error").mockImplementation(() => {});
		try {
			// D1 refuses the usage rows, then (next try) the hourly rollups.
			await flushWithD1(model, async () => {
				throw new Error("D1_ERROR: network connection lost");
			});
			const first = await nextFlushIn();
			expect(first).toBeGreaterThan(0);
			await flushWithD1(model, async (i, run) => {
				if (i === 1) throw new Error("D1_ERROR: network connection lost");
				return run();
			});
			const second = await nextFlushIn();
			expect(second).toBeGreaterThan(first ?? 0);
			expect(second).toBeLessThanOrEqual(60_000);
			expect(logged).toHaveBeenCalledTimes(2);
		} finally {
			logged.mockRestore();
		}
		await flushMeter(model);
		expect(await usageRowsForModel(model)).toHaveLength(1);
		expect(await hourlyTotals(model, "0xabc")).toEqual({ requests: 1, fees: 8n });
		expect(await meterOf(model).pendingFlush()).toBe(0);
	});
});

describe("ModelMeter last-minute rates", () => {
	it("keeps at most a minute of per-second buckets even when nobody reads the stats", async () => {
		const model = await newModel();
		// Two minutes of traffic, one batch a second, no stats reads and no sockets.
		vi.useFakeTimers({ toFake: ["Date"] });
		try {
			const start = Date.now();
			for (let i = 0; i < 120; i++) {
				vi.setSystemTime(start + i * 1000);
				await meterOf(model).recordBatch(model, [usageRecord()]);
			}
			const buckets = await runInDurableObject(
				meterOf(model),
				(meter: ModelMeter) => (meter as unknown as { seconds: Map<number, unknown> }).seconds.size,
			);
			expect(buckets).toBeLessThanOrEqual(60);
			expect((await meterOf(model).stats()).lastMinute.requests).toBe(60);
		} finally {
			vi.useRealTimers();
		}
	});
});

describe("GET /v1/models/{id}/stats", () => {
	it("shows all-time and last-minute counters with fees in base units", async () => {
		const { key } = await newKey();
		const model = await newModel();
		await calls(model, key, 2);
		const res = await callGateway(`/v1/models/${model}/stats`);
		expect(res.status).toBe(200);
		const body = res.json();
		expect(body.model).toBe(model);
		expect(body.total.requests).toBe(2);
		expect(body.last_minute.requests).toBe(2);
		expect(body.total.completion_tokens).toBe(4);
		expect(BigInt(body.total.fees)).toBeGreaterThan(0n);
		expect(body.total.fees).toMatch(/^\d+$/);
	});

	it("answers 404 for an unknown model, in OpenAI's format", async () => {
		const res = await callGateway("/v1/models/nobody/nothing/stats");
		expect(res.status).toBe(404);
		expect(res.json().error.code).toBe("model_not_found");
	});
});

describe("GET /v1/models/{id}/live", () => {
	it("pushes counter updates over a WebSocket, coalesced to at most 4 a second", async () => {
		const { key } = await newKey();
		const model = await newModel();
		const res = await meterOf(model).fetch("https://meter/live", { headers: { upgrade: "websocket" } });
		const ws = res.webSocket as WebSocket;
		expect(ws).toBeTruthy();
		ws.accept();
		const messages: Array<{ at: number; requests: number }> = [];
		ws.addEventListener("message", (e) => {
			const stats = JSON.parse(e.data as string);
			messages.push({ at: Date.now(), requests: stats.total.requests });
		});
		await calls(model, key, 12);
		await new Promise((r) => setTimeout(r, 600));
		ws.close();
		expect(messages[0]?.requests).toBe(0); // the snapshot sent on connect
		expect(messages.at(-1)?.requests).toBe(12); // the last update is never dropped
		const updates = messages.slice(1);
		expect(updates.length).toBeLessThan(12);
		for (let i = 1; i < updates.length; i++) {
			expect((updates[i]?.at ?? 0) - (updates[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(200);
		}
	});

	it("accepts the upgrade through the gateway route and refuses plain GETs", async () => {
		const model = await newModel();
		const plain = await callGateway(`/v1/models/${model}/live`);
		expect(plain.status).toBe(400);
		const missing = await callGateway("/v1/models/nobody/none/live", { headers: { upgrade: "websocket" } });
		expect(missing.status).toBe(404);
	});

	it("names the model from the first message, before it has ever been called", async () => {
		const model = await newModel();
		const { response, done } = await openGateway(`/v1/models/${model}/live`, { headers: { upgrade: "websocket" } });
		const ws = response.webSocket as WebSocket;
		ws.accept();
		const first = new Promise<{ model: string; total: { requests: number } }>((resolve) =>
			ws.addEventListener("message", (e) => resolve(JSON.parse(e.data as string)), { once: true }),
		);
		expect(await first).toMatchObject({ model, total: { requests: 0 } });
		ws.close();
		await done();
	});

	it("uses hibernatable sockets (the meter holds them through the runtime, not in memory)", async () => {
		const model = await newModel();
		const res = await meterOf(model).fetch("https://meter/live", { headers: { upgrade: "websocket" } });
		(res.webSocket as WebSocket).accept();
		const count = await runInDurableObject(
			meterOf(model),
			(_: ModelMeter, state: DurableObjectState) => state.getWebSockets().length,
		);
		expect(count).toBe(1);
	});

	it("closes a subscriber whose connection dropped (1006, a code that cannot be sent) with 1000", async () => {
		const model = await newModel();
		const res = await meterOf(model).fetch("https://meter/live", { headers: { upgrade: "websocket" } });
		const client = res.webSocket as WebSocket;
		const closed = new Promise<number>((resolve) => client.addEventListener("close", (e) => resolve(e.code)));
		client.accept();
		await runInDurableObject(meterOf(model), async (meter: ModelMeter, state: DurableObjectState) => {
			const [server] = state.getWebSockets();
			if (!server) throw new Error("no subscriber");
			// What the runtime calls when a subscriber goes away without a close frame.
			await meter.webSocketClose(server, 1006);
		});
		const timeout = new Promise<string>((resolve) => setTimeout(() => resolve("no close"), 2000));
		expect(await Promise.race([closed, timeout])).toBe(1000);
	});
});
