import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { findRoutableModel, upsertModel } from "../../lib/db/models.ts";
import { ledgerFor } from "../../workers/gateway/accounts.ts";
import { keyHashOf, planRequest } from "../../workers/gateway/inference.ts";
import { forgetModel } from "../../workers/gateway/model-cache.ts";
import type { ChatCompletionRequest } from "../../workers/gateway/schemas/inference.ts";
import { db, newKey, newModel, newPayer, standIn, testEnv, upstreamRequestsWith } from "../helpers/fixtures.ts";
import { callAndLeave, callGateway, flushMeter, usageRowsForModel } from "../helpers/gateway.ts";

const ledger = (payer: string) => ledgerFor(testEnv(), payer);

/** The model's upstream recovers: it is the plain stand-in from the gateway's next request on. */
async function recover(model: string) {
	await upsertModel(db(), {
		id: model,
		displayName: model,
		inputPricePerM: 2_000_000_000_000_000n,
		outputPricePerM: 6_000_000_000_000_000n,
		upstreams: [standIn()],
	});
	forgetModel(model);
}

/**
 * A chat request whose client goes away once the upstream has it (its body carries `marker`);
 * `meanwhile` runs after the client left, before the gateway is done with the request.
 */
function leavesOnceForwarded(init: Parameters<typeof callGateway>[1], marker: string, meanwhile?: () => Promise<void>) {
	const forwarded = () => vi.waitFor(async () => expect(await upstreamRequestsWith(marker)).toHaveLength(1));
	return callAndLeave("/v1/chat/completions", init ?? {}, forwarded, meanwhile);
}

/** The hold the gateway will place for `body`, computed the way the gateway does. */
async function holdFor(modelId: string, body: ChatCompletionRequest): Promise<bigint> {
	const model = await findRoutableModel(db(), modelId);
	if (!model) throw new Error("model missing");
	return planRequest("chat", body, model, new TextEncoder().encode(JSON.stringify(body)).byteLength).maxCost;
}

describe("credit holds", () => {
	it("never overspends when 100 requests race on one payer", async () => {
		const model = await newModel();
		const body = { model, max_tokens: 8, messages: [{ role: "user" as const, content: "race" }] };
		const hold = await holdFor(model, body);
		// Enough credit for 37 concurrent holds, not 38.
		const { key, payer } = await newKey({ credit: hold * 37n + hold / 2n });
		const keys = [key, ...(await Promise.all(Array.from({ length: 3 }, () => newKey({ payer, credit: 0n })))).map((k) => k.key)];

		const results = await Promise.all(
			Array.from({ length: 100 }, (_, i) => callGateway("/v1/chat/completions", { key: keys[i % keys.length], json: body })),
		);
		const ok = results.filter((r) => r.status === 200).length;
		const refused = results.filter((r) => r.status === 402);
		expect(ok + refused.length).toBe(100);
		// Each key admits against its own lease, so while the race lasts up to one hold per
		// key (less one) can sit unusable in the other keys' leases.
		expect(ok).toBeGreaterThanOrEqual(37 - (keys.length - 1));
		expect(refused.length).toBeGreaterThan(0);
		expect(refused[0]?.json().error).toMatchObject({ code: "insufficient_quota", type: "insufficient_quota" });

		const account = await ledger(payer).account();
		expect(account.held).toBe(0n);
		expect(account.totalSpent).toBeLessThanOrEqual(account.totalCredited);
		expect(account.balance).toBeGreaterThanOrEqual(0n);
		expect(account.balance).toBe(account.totalCredited - account.totalSpent);
		// The leases are back: what is left is spendable by any key of the payer.
		expect(account.available).toBe(account.balance);
	});

	it("answers 402 insufficient_quota without calling the upstream when the balance is short", async () => {
		const { key } = await newKey({ credit: 0n });
		const model = await newModel();
		const marker = crypto.randomUUID();
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, messages: [{ role: "user", content: marker }] },
		});
		expect(res.status).toBe(402);
		expect(res.json().error.code).toBe("insufficient_quota");
		expect(await upstreamRequestsWith(marker)).toHaveLength(0);
	});

	it("holds the maximum cost while a request runs and charges only the actual cost after", async () => {
		const model = await newModel();
		const body = { model, max_tokens: 5, messages: [{ role: "user" as const, content: "short" }] };
		const hold = await holdFor(model, body);
		const { key, payer } = await newKey({ credit: hold });
		const res = await callGateway("/v1/chat/completions", { key, json: body });
		expect(res.status).toBe(200);
		const account = await ledger(payer).account();
		expect(account.held).toBe(0n);
		expect(account.totalSpent).toBeLessThan(hold);
		expect(account.balance).toBe(hold - account.totalSpent);
	});

	it("bounds the cost of a request without max_tokens by the model's output cap, and forwards that cap", async () => {
		const model = await newModel({ maxOutputTokens: 12 });
		const marker = crypto.randomUUID();
		const { key } = await newKey();
		await callGateway("/v1/chat/completions", { key, json: { model, messages: [{ role: "user", content: marker }] } });
		const [seen] = await upstreamRequestsWith(marker);
		expect(seen?.body.max_tokens).toBe(12);
	});

	it("never charges above the hold when an upstream over-reports usage, and meters what was charged", async () => {
		const model = await newModel({ behaviour: ":inflated-usage" });
		const body = { model, max_tokens: 4, messages: [{ role: "user" as const, content: "count me" }] };
		const hold = await holdFor(model, body);
		const { key, payer } = await newKey();
		const res = await callGateway("/v1/chat/completions", { key, json: body });
		expect(res.json().usage.completion_tokens).toBe(4000);
		const account = await ledger(payer).account();
		expect(account.totalSpent).toBe(hold);
		await flushMeter(model);
		const [row] = await usageRowsForModel(model);
		expect(row?.fee).toBe(hold);
	});

	it("applies a credit once per credit id", async () => {
		const payer = newPayer();
		const first = await ledger(payer).credit("deposit-1", 500n, "test");
		const again = await ledger(payer).credit("deposit-1", 500n, "test");
		expect(first).toEqual({ applied: true, balance: 500n, amount: 500n });
		expect(again).toEqual({ applied: false, balance: 500n, amount: 500n });
	});
});

describe("Idempotency-Key", () => {
	it("charges a retried request once and replays the first body", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const marker = crypto.randomUUID();
		const init = {
			key,
			headers: { "idempotency-key": `retry-${marker}` },
			json: { model, messages: [{ role: "user", content: marker }] },
		};
		const first = await callGateway("/v1/chat/completions", init);
		const spentOnce = (await ledger(payer).account()).totalSpent;
		const second = await callGateway("/v1/chat/completions", init);
		expect(second.status).toBe(200);
		expect(second.text).toBe(first.text);
		expect(second.headers.get("idempotent-replayed")).toBe("true");
		expect(second.headers.get("x-request-id")).toBe(first.headers.get("x-request-id"));
		expect((await ledger(payer).account()).totalSpent).toBe(spentOnce);
		expect(await upstreamRequestsWith(marker)).toHaveLength(1);
	});

	it("finishes a non-stream request whose client went away, so the retry gets its answer, charged once", async () => {
		const { key, payer } = await newKey();
		const model = await newModel({ behaviour: ":slow-answer" });
		const marker = crypto.randomUUID();
		const init = {
			key,
			headers: { "idempotency-key": `gone-${marker}` },
			json: { model, max_tokens: 5, messages: [{ role: "user", content: marker }] },
		};
		await leavesOnceForwarded(init, marker);
		// The upstream was left to answer, and the answer kept for the key.
		expect((await upstreamRequestsWith(marker))[0]?.abandoned).toBe(false);
		const spentOnce = (await ledger(payer).account()).totalSpent;
		expect(spentOnce).toBeGreaterThan(0n);
		const retry = await callGateway("/v1/chat/completions", init);
		expect(retry.status).toBe(200);
		expect(retry.headers.get("idempotent-replayed")).toBe("true");
		expect(retry.json().choices[0].message.content).toBe("This reply comes from the");
		expect((await ledger(payer).account()).totalSpent).toBe(spentOnce);
		expect(await upstreamRequestsWith(marker)).toHaveLength(1);
	});

	it("gives up on an upstream that outlives its gone client by UPSTREAM_CLIENT_GONE_TIMEOUT_MS, free, so the retry runs", async () => {
		const { key, payer } = await newKey();
		const model = await newModel({ behaviour: ":hang" });
		const marker = crypto.randomUUID();
		const init = {
			key,
			headers: { "idempotency-key": `outlived-${marker}` },
			json: { model, messages: [{ role: "user", content: marker }] },
		};
		await leavesOnceForwarded({ ...init, env: { UPSTREAM_CLIENT_GONE_TIMEOUT_MS: "300" } }, marker, async () => {
			await new Promise((resolve) => setTimeout(resolve, 100));
			// Still waiting for the answer the retry will want.
			expect((await upstreamRequestsWith(marker))[0]?.abandoned).toBe(false);
		});
		await vi.waitFor(async () => expect((await upstreamRequestsWith(marker))[0]?.abandoned).toBe(true));
		expect((await ledger(payer).account()).totalSpent).toBe(0n);
		await recover(model);
		const retry = await callGateway("/v1/chat/completions", init);
		expect(retry.status).toBe(200);
		expect(retry.headers.get("idempotent-replayed")).toBeNull();
		expect(await upstreamRequestsWith(marker)).toHaveLength(2);
	});

	it("leaves the key free when a stream's client goes away before the first byte: nothing charged, the retry runs", async () => {
		const { key, payer } = await newKey();
		const model = await newModel({ behaviour: ":hang" });
		const marker = crypto.randomUUID();
		const init = {
			key,
			headers: { "idempotency-key": `gone-stream-${marker}` },
			json: { model, stream: true, messages: [{ role: "user", content: marker }] },
		};
		await leavesOnceForwarded(init, marker);
		await vi.waitFor(async () => expect((await upstreamRequestsWith(marker))[0]?.abandoned).toBe(true));
		expect((await ledger(payer).account()).totalSpent).toBe(0n);
		// A streamed body is not kept, so a used-up key could never give the retry an answer: it runs again.
		await recover(model);
		const retry = await callGateway("/v1/chat/completions", init);
		expect(retry.status).toBe(200);
		expect(retry.text).toContain("[DONE]");
		expect(await upstreamRequestsWith(marker)).toHaveLength(2);
		expect((await ledger(payer).account()).totalSpent).toBeGreaterThan(0n);
	});

	it("leaves the key free after a request that failed and cost nothing: the retry runs, and is charged once when it succeeds", async () => {
		const { key, payer } = await newKey();
		const model = await newModel({ behaviour: ":http-500" });
		const marker = crypto.randomUUID();
		const init = {
			key,
			headers: { "idempotency-key": `fail-${marker}` },
			json: { model, messages: [{ role: "user", content: marker }] },
		};
		const failed = await callGateway("/v1/chat/completions", init);
		expect(failed.status).toBe(502);
		// Nothing ran to completion and nothing was charged: the same key runs again (no 409 "already ran").
		const again = await callGateway("/v1/chat/completions", init);
		expect(again.status).toBe(502);
		expect(again.json().error.code).not.toBe("idempotency_conflict");
		expect(await upstreamRequestsWith(marker)).toHaveLength(2);
		expect((await ledger(payer).account()).totalSpent).toBe(0n);

		// The upstream recovers: the retry runs, is charged, and from then on the key replays it.
		await recover(model);
		const ok = await callGateway("/v1/chat/completions", init);
		expect(ok.status).toBe(200);
		expect(ok.headers.get("idempotent-replayed")).toBeNull();
		const spent = (await ledger(payer).account()).totalSpent;
		expect(spent).toBeGreaterThan(0n);
		const replayed = await callGateway("/v1/chat/completions", init);
		expect(replayed.status).toBe(200);
		expect(replayed.headers.get("idempotent-replayed")).toBe("true");
		expect(replayed.text).toBe(ok.text);
		expect((await ledger(payer).account()).totalSpent).toBe(spent);
		expect(await upstreamRequestsWith(marker)).toHaveLength(3);
	});

	it("leaves the key free when the alarm releases the hold of a request whose Worker died", async () => {
		const { key, payer } = await newKey();
		const stub = ledger(payer);
		const input = {
			keyHash: await keyHashOf(key),
			modelId: await newModel(),
			maxCost: 1_000n,
			maxTokens: 10,
			requestsPerMinute: 1_000,
			tokensPerMinute: 1_000_000,
			idempotencyKey: `died-${crypto.randomUUID()}`,
		};
		// Authorized 16 minutes ago and never committed: past the hold's TTL.
		const stale = Date.now() - 16 * 60_000;
		expect(await stub.authorize({ ...input, requestId: `req_${"a".repeat(32)}`, now: stale })).toMatchObject({ ok: true });
		expect(await runDurableObjectAlarm(stub)).toBe(true);
		const account = await stub.account();
		expect(account.held).toBe(0n);
		expect(account.totalSpent).toBe(0n);
		// Nothing was charged: the key is free, not "already ran".
		expect(await stub.authorize({ ...input, requestId: `req_${"b".repeat(32)}`, now: Date.now() })).toMatchObject({ ok: true });
	});

	it("meters a charged request through the model's batch queue when the meter's record call fails", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		// The model's meter as the gateway sees it, with a record() that fails (a reset object).
		const meters = testEnv().MODEL_METER;
		let failed = 0;
		const MODEL_METER = {
			getByName(name: string) {
				const stub = meters.getByName(name);
				return {
					record: async () => {
						failed++;
						throw new Error("meter reset");
					},
					recordBatch: (...args: Parameters<typeof stub.recordBatch>) => stub.recordBatch(...args),
				};
			},
		};
		const res = await callGateway("/v1/chat/completions", {
			key,
			headers: { "idempotency-key": `meter-${crypto.randomUUID()}` },
			json: { model, messages: [{ role: "user", content: "hi" }] },
			env: { MODEL_METER } as never,
		});
		expect(res.status).toBe(200);
		expect(failed).toBe(1);
		await flushMeter(model);
		const rows = await usageRowsForModel(model);
		expect(rows.map((r) => r.requestId)).toEqual([res.headers.get("x-request-id")]);
		expect(rows[0]?.fee).toBe((await ledger(payer).account()).totalSpent);
	});

	it("refuses a duplicate while the first is still running (409)", async () => {
		const { key } = await newKey();
		const model = await newModel();
		const init = {
			key,
			headers: { "idempotency-key": `dup-${crypto.randomUUID()}` },
			json: { model, stream: true, messages: [{ role: "user", content: "x" }] },
		};
		const [a, b] = await Promise.all([callGateway("/v1/chat/completions", init), callGateway("/v1/chat/completions", init)]);
		expect([a.status, b.status].sort()).toEqual([200, 409]);
	});

	it("answers a retry of a finished stream with a 409 pointing at its generation, charged once, not to be retried", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const marker = crypto.randomUUID();
		const init = {
			key,
			headers: { "idempotency-key": `streamed-${marker}` },
			json: { model, stream: true, messages: [{ role: "user", content: marker }] },
		};
		const first = await callGateway("/v1/chat/completions", init);
		expect(first.text).toContain("[DONE]");
		const spent = (await ledger(payer).account()).totalSpent;
		expect(spent).toBeGreaterThan(0n);
		const retry = await callGateway("/v1/chat/completions", init);
		expect(retry.status).toBe(409);
		expect(retry.json().error).toMatchObject({ code: "idempotency_conflict", param: "Idempotency-Key" });
		expect(retry.json().error.message).toContain(`/v1/generations/${first.headers.get("x-request-id")}`);
		// Its body was not kept, so no retry will ever get it: the SDKs are told not to retry.
		expect(retry.headers.get("x-should-retry")).toBe("false");
		expect(await upstreamRequestsWith(marker)).toHaveLength(1);
		expect((await ledger(payer).account()).totalSpent).toBe(spent);
	});

	it("refuses a used key for a different body or endpoint (409 naming the header), without running or charging it", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const marker = crypto.randomUUID();
		const headers = { "idempotency-key": `reused-${marker}` };
		const first = await callGateway("/v1/chat/completions", {
			key,
			headers,
			json: { model, messages: [{ role: "user", content: `${marker} first question` }] },
		});
		expect(first.status).toBe(200);
		const spentOnce = (await ledger(payer).account()).totalSpent;
		const others = [
			callGateway("/v1/chat/completions", {
				key,
				headers,
				json: { model, messages: [{ role: "user", content: `${marker} another question` }] },
			}),
			callGateway("/v1/embeddings", { key, headers, json: { model, input: `${marker} first question` } }),
		];
		for (const other of await Promise.all(others)) {
			expect(other.status).toBe(409);
			expect(other.headers.get("idempotent-replayed")).toBeNull();
			// Nothing a retry can change: the SDKs, which retry every 409, are told not to.
			expect(other.headers.get("x-should-retry")).toBe("false");
			expect(other.json().error).toMatchObject({
				code: "idempotency_conflict",
				type: "invalid_request_error",
				param: "Idempotency-Key",
				message: expect.stringContaining("different request"),
			});
		}
		expect(await upstreamRequestsWith(marker)).toHaveLength(1);
		expect((await ledger(payer).account()).totalSpent).toBe(spentOnce);
		// The first request itself still replays.
		const retry = await callGateway("/v1/chat/completions", {
			key,
			headers,
			json: { model, messages: [{ role: "user", content: `${marker} first question` }] },
		});
		expect(retry.headers.get("idempotent-replayed")).toBe("true");
		expect(retry.text).toBe(first.text);
	});

	it("refuses a different body under a key still in flight as a reuse, not as a wait-and-retry", async () => {
		const { key } = await newKey();
		const model = await newModel({ behaviour: ":slow-answer" });
		const marker = crypto.randomUUID();
		const headers = { "idempotency-key": `reused-in-flight-${marker}` };
		const first = callGateway("/v1/chat/completions", {
			key,
			headers,
			json: { model, messages: [{ role: "user", content: `${marker} first` }] },
		});
		await vi.waitFor(async () => expect(await upstreamRequestsWith(marker)).toHaveLength(1));
		const [other, same] = await Promise.all([
			callGateway("/v1/chat/completions", {
				key,
				headers,
				json: { model, messages: [{ role: "user", content: `${marker} second` }] },
			}),
			callGateway("/v1/chat/completions", {
				key,
				headers,
				json: { model, messages: [{ role: "user", content: `${marker} first` }] },
			}),
		]);
		expect(other.status).toBe(409);
		expect(other.json().error.message).toContain("different request");
		expect(other.headers.get("x-should-retry")).toBe("false");
		expect(same.status).toBe(409);
		expect(same.json().error.message).toContain("still in progress");
		// A retry of the same request gets its answer once it finishes: retrying is right.
		expect(same.headers.get("x-should-retry")).toBeNull();
		expect((await first).status).toBe(200);
		expect(await upstreamRequestsWith(marker)).toHaveLength(1);
	});

	it("does not share idempotency keys between API keys", async () => {
		const { key: k1, payer } = await newKey();
		const { key: k2 } = await newKey({ payer, credit: 0n });
		const model = await newModel();
		const headers = { "idempotency-key": "same-key" };
		const a = await callGateway("/v1/chat/completions", {
			key: k1,
			headers,
			json: { model, messages: [{ role: "user", content: "a" }] },
		});
		const b = await callGateway("/v1/chat/completions", {
			key: k2,
			headers,
			json: { model, messages: [{ role: "user", content: "b" }] },
		});
		expect(b.headers.get("idempotent-replayed")).toBeNull();
		expect(b.headers.get("x-request-id")).not.toBe(a.headers.get("x-request-id"));
	});

	it("rejects a malformed Idempotency-Key with 400", async () => {
		const { key } = await newKey();
		const model = await newModel();
		const res = await callGateway("/v1/chat/completions", {
			key,
			headers: { "idempotency-key": "x".repeat(300) },
			json: { model, messages: [{ role: "user", content: "a" }] },
		});
		expect(res.status).toBe(400);
		expect(res.json().error.param).toBe("Idempotency-Key");
	});
});

describe("per-key rate limits", () => {
	it("answers 429 with Retry-After once a key passes its requests per minute (40 in tests)", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const body = { model, max_tokens: 1, messages: [{ role: "user", content: "tick" }] };
		const statuses: number[] = [];
		let limited: Awaited<ReturnType<typeof callGateway>> | undefined;
		for (let i = 0; i < 45 && !limited; i++) {
			const res = await callGateway("/v1/chat/completions", { key, json: body });
			statuses.push(res.status);
			if (res.status === 429) limited = res;
		}
		expect(statuses.slice(0, 40).every((s) => s === 200)).toBe(true);
		expect(limited?.json().error).toMatchObject({ code: "rate_limit_exceeded", type: "rate_limit_error" });
		expect(Number(limited?.headers.get("retry-after"))).toBeGreaterThan(0);
		// The refused request's hold was released.
		expect((await ledger(payer).account()).held).toBe(0n);
	});

	it("answers 429 with Retry-After when concurrent requests would pass the key's tokens per minute", async () => {
		const { key } = await newKey();
		// A model whose answers may be 90,000 tokens long (the default cap is 4,096).
		const model = await newModel({ maxOutputTokens: 100_000 });
		// 200,000 tokens per minute in wrangler.toml; each request may use ~90,000.
		const body = { model, stream: true, max_tokens: 90_000, messages: [{ role: "user", content: "big" }] };
		const results = await Promise.all([0, 1, 2].map(() => callGateway("/v1/chat/completions", { key, json: body })));
		const limited = results.filter((r) => r.status === 429);
		expect(limited).toHaveLength(1);
		expect(limited[0]?.json().error.message).toContain("tokens per minute");
		expect(Number(limited[0]?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
	});

	it("answers 400 naming the field, not a 429 to retry, for a request that alone passes the key's tokens per minute", async () => {
		const { key, payer } = await newKey();
		// A model whose answers may be longer than a key's 200,000 tokens per minute.
		const model = await newModel({ maxOutputTokens: 500_000 });
		const marker = crypto.randomUUID();
		const messages = [{ role: "user", content: marker }];
		const cases: Array<[string, Record<string, unknown>, string, Record<string, string>]> = [
			["/v1/chat/completions", { model, max_tokens: 300_000, messages }, "max_tokens", {}],
			["/v1/chat/completions", { model, max_completion_tokens: 300_000, messages }, "max_completion_tokens", {}],
			// Without a limit, the model's 500,000 bounds the answer.
			["/v1/chat/completions", { model, messages }, "max_tokens", {}],
			["/v1/chat/completions", { model, max_tokens: 300_000, messages }, "max_tokens", { "idempotency-key": `tpm-${marker}` }],
			["/v1/completions", { model, max_tokens: 300_000, prompt: marker }, "max_tokens", {}],
			// 250,000 bytes of input bound the prompt at 250,000 tokens.
			["/v1/embeddings", { model, input: `${marker} ${"x".repeat(250_000)}` }, "input", {}],
		];
		for (const [path, json, param, headers] of cases) {
			const res = await callGateway(path, { key, json, headers });
			expect(res.status, `${path} ${param}`).toBe(400);
			expect(res.headers.get("retry-after")).toBeNull();
			expect(res.json().error).toMatchObject({ code: "invalid_request", type: "invalid_request_error", param });
			expect(res.json().error.message).toContain("200000 tokens per minute");
		}
		expect(await upstreamRequestsWith(marker)).toHaveLength(0);
		const account = await ledger(payer).account();
		expect(account.totalSpent).toBe(0n);
		expect(account.held).toBe(0n);
	});
});
