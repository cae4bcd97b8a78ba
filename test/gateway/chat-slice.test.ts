import { describe, expect, it } from "vitest";
import { ledgerFor } from "../../workers/gateway/accounts.ts";
import { newKey, newModel, testEnv, upstreamRequestsWith } from "../helpers/fixtures.ts";
import { callGateway, flushMeter, meterOf, usageRowsForModel } from "../helpers/gateway.ts";

describe("POST /v1/chat/completions: the first metered call", () => {
	it("forwards a keyed call to the model's upstream and leaves exactly one usage row", async () => {
		const { key, id: keyId, payer } = await newKey();
		const model = await newModel();
		const marker = crypto.randomUUID();

		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, messages: [{ role: "user", content: `hello there ${marker}` }], max_tokens: 5 },
		});

		expect(res.status).toBe(200);
		const completion = res.json();
		expect(completion.object).toBe("chat.completion");
		expect(completion.choices[0].message.content).toBe("This reply comes from the");
		expect(completion.usage).toEqual({ prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 });
		const requestId = res.headers.get("x-request-id");
		expect(requestId).toMatch(/^req_[0-9a-f]{32}$/);

		const seen = await upstreamRequestsWith(marker);
		expect(seen).toHaveLength(1);
		expect(seen[0]?.path).toBe("/v1/chat/completions");
		expect(seen[0]?.body.model).toBe("stand-in");

		await flushMeter(model);
		const rows = await usageRowsForModel(model);
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({
			requestId,
			keyId,
			payer,
			modelId: model,
			promptTokens: 3,
			completionTokens: 5,
			status: "ok",
			// 3 × 2e15 + 5 × 6e15 per 1M tokens, in base units
			fee: (3n * 2_000_000_000_000_000n + 5n * 6_000_000_000_000_000n) / 1_000_000n,
		});
	});

	it("writes nothing twice when the flush runs again", async () => {
		const { key } = await newKey();
		const model = await newModel();
		await callGateway("/v1/chat/completions", { key, json: { model, messages: [{ role: "user", content: "hi" }] } });
		await flushMeter(model);
		await flushMeter(model);
		expect(await usageRowsForModel(model)).toHaveLength(1);
		const meter = meterOf(model);
		expect(await meter.pendingFlush()).toBe(0);
		expect((await meter.counters()).requests).toBe(1);
	});
});

describe("POST /v1/chat/completions: rejected calls leave no usage", () => {
	async function expectNoTrace(model: string, marker: string) {
		expect(await upstreamRequestsWith(marker)).toHaveLength(0);
		await flushMeter(model);
		expect(await usageRowsForModel(model)).toHaveLength(0);
	}

	it.each([
		["no Authorization header", undefined],
		["a malformed key", "sk-not-a-modeldex-key"],
		["an unknown key of the right shape", `mdx_${"ab".repeat(20)}_${"A".repeat(43)}`],
	])("answers 401 invalid_api_key for %s", async (_, key) => {
		const model = await newModel();
		const marker = crypto.randomUUID();
		const res = await callGateway("/v1/chat/completions", {
			...(key ? { key } : {}),
			json: { model, messages: [{ role: "user", content: marker }] },
		});
		expect(res.status).toBe(401);
		const body = res.json();
		expect(body).toEqual({
			error: { message: expect.any(String), type: "invalid_request_error", code: "invalid_api_key", param: null },
		});
		await expectNoTrace(model, marker);
	});

	it("answers 404 model_not_found for a model that is not registered", async () => {
		const { key } = await newKey();
		const marker = crypto.randomUUID();
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model: "nobody/unknown-model", messages: [{ role: "user", content: marker }] },
		});
		expect(res.status).toBe(404);
		expect(res.json().error).toMatchObject({ code: "model_not_found", param: "model", type: "invalid_request_error" });
		expect(await upstreamRequestsWith(marker)).toHaveLength(0);
		expect(await usageRowsForModel("nobody/unknown-model")).toHaveLength(0);
	});

	it("answers 400 invalid_json for a body that is not JSON", async () => {
		const { key } = await newKey();
		const model = await newModel();
		const res = await callGateway("/v1/chat/completions", { key, method: "POST", body: `{"model": "${model}", ` });
		expect(res.status).toBe(400);
		expect(res.json()).toEqual({
			error: { message: expect.stringContaining("JSON"), type: "invalid_request_error", code: "invalid_json", param: null },
		});
		await expectNoTrace(model, model);
	});

	it.each([
		["messages", { messages: "hello" }],
		["messages[0].role", { messages: [{ role: "wizard", content: "hi" }] }],
		["max_tokens", { messages: [{ role: "user", content: "hi" }], max_tokens: -3 }],
		["temperature", { messages: [{ role: "user", content: "hi" }], temperature: "hot" }],
	])("answers 400 naming '%s' when it fails validation", async (param, fields) => {
		const { key } = await newKey();
		const model = await newModel();
		const res = await callGateway("/v1/chat/completions", { key, json: { model, ...fields } });
		expect(res.status).toBe(400);
		const { error } = res.json();
		expect(error).toMatchObject({ code: "invalid_request", param, type: "invalid_request_error" });
		expect(error.message).toContain(param);
		await expectNoTrace(model, model);
	});

	it("answers 400 naming 'model' when the model is missing", async () => {
		const { key } = await newKey();
		const res = await callGateway("/v1/chat/completions", { key, json: { messages: [{ role: "user", content: "x" }] } });
		expect(res.status).toBe(400);
		expect(res.json().error).toMatchObject({ code: "invalid_request", param: "model" });
	});

	it("answers 502 upstream_error, charges nothing and counts the error when the upstream fails", async () => {
		const { key, payer } = await newKey();
		const model = await newModel({ behaviour: ":http-500" });
		const marker = crypto.randomUUID();
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, messages: [{ role: "user", content: marker }] },
		});
		expect(res.status).toBe(502);
		expect(res.json().error).toMatchObject({ code: "upstream_error", type: "api_error" });
		expect(await upstreamRequestsWith(marker)).toHaveLength(1);
		await flushMeter(model);
		const rows = await usageRowsForModel(model);
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({ status: "error", fee: 0n, promptTokens: 0, completionTokens: 0 });
		const account = await ledgerFor(testEnv(), payer).account();
		expect(account.totalSpent).toBe(0n);
		expect(account.held).toBe(0n);
	});
});
