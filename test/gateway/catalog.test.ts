import { describe, expect, it } from "vitest";
import { upsertModel } from "../../lib/db/models.ts";
import { modelMarkets } from "../../lib/db/schema.ts";
import { db, newKey, newModel, newPayer, standIn } from "../helpers/fixtures.ts";
import { callGateway } from "../helpers/gateway.ts";

describe("GET /v1/models", () => {
	it("lists tokenized models with prices per 1M tokens in base units", async () => {
		const model = await newModel({ inputPricePerM: 123n, outputPricePerM: 456n });
		const res = await callGateway("/v1/models");
		expect(res.status).toBe(200);
		const entry = res.json().data.find((m: { id: string }) => m.id === model);
		expect(entry).toMatchObject({
			object: "model",
			owned_by: "modeldex",
			pricing: { input_per_1m_tokens: "123", output_per_1m_tokens: "456", currency: "PACA" },
		});
	});

	it("retrieves one model by an id containing a slash, raw or percent-encoded", async () => {
		const model = await newModel();
		for (const path of [`/v1/models/${model}`, `/v1/models/${encodeURIComponent(model)}`]) {
			const res = await callGateway(path);
			expect(res.status).toBe(200);
			expect(res.json().id).toBe(model);
		}
	});

	it("retrieves a model whose name is also a view's (a Hugging Face repo 'org/stats', 'org/live', 'org/usage')", async () => {
		for (const name of ["stats", "live", "usage"]) {
			const id = `test-${crypto.randomUUID().slice(0, 8)}/${name}`;
			await upsertModel(db(), { id, displayName: id, inputPricePerM: 1n, outputPricePerM: 1n, upstreams: [standIn()] });
			const res = await callGateway(`/v1/models/${id}`);
			expect(res.status, id).toBe(200);
			expect(res.json().id).toBe(id);
			// Its own views still work.
			const stats = await callGateway(`/v1/models/${id}/stats`);
			expect(stats.status, `${id}/stats`).toBe(200);
			expect(stats.json().model).toBe(id);
			const usage = await callGateway(`/v1/models/${id}/usage`);
			expect(usage.status, `${id}/usage`).toBe(200);
			expect(usage.json().model).toBe(id);
		}
	});

	it("answers 404 model_not_found for an unknown id", async () => {
		const res = await callGateway("/v1/models/nobody/missing");
		expect(res.status).toBe(404);
		expect(res.json().error.code).toBe("model_not_found");
	});
});

describe("GET /v1/markets/{id}", () => {
	it("finds the market of a model whose name is also a view's ('org/trades', 'org/holders')", async () => {
		for (const name of ["trades", "holders"]) {
			const modelId = `test-${crypto.randomUUID().slice(0, 8)}/${name}`;
			const token = newPayer();
			await db().insert(modelMarkets).values({
				token,
				chainId: 31337,
				modelId,
				sale: newPayer(),
				creator: newPayer(),
				pair: newPayer(),
				symbol: "T",
				name: modelId,
				metadataUri: "",
				status: "funding",
				totalSupply: 10n,
				graduationThreshold: 10n,
				initialVirtualPaca: 1n,
				initialVirtualToken: 1n,
				virtualPaca: 1n,
				virtualToken: 1n,
				raised: 0n,
				price: 1n,
				inputPricePerM: 1n,
				outputPricePerM: 1n,
				revenueSettled: 0n,
				holders: 0,
				shareSupply: 10n,
				tokenizedBlock: 1,
			});
			const res = await callGateway(`/v1/markets/${modelId}`);
			expect(res.status, modelId).toBe(200);
			expect(res.json()).toMatchObject({ object: "model_market", model: modelId, token });
			expect((await callGateway(`/v1/markets/${modelId}/${name}`)).json().object).toBe("list");
		}
	});
});

describe("GET /v1/generations/{id}", () => {
	it("has the request's tokens and cost as soon as the response has ended", async () => {
		const { key } = await newKey();
		const model = await newModel();
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, max_tokens: 3, messages: [{ role: "user", content: "a b" }] },
		});
		const id = res.headers.get("x-request-id");
		const gen = await callGateway(`/v1/generations/${id}`, { key });
		expect(gen.status).toBe(200);
		expect(gen.json()).toMatchObject({
			id,
			object: "generation",
			model,
			prompt_tokens: 2,
			completion_tokens: 3,
			status: "ok",
			usage_source: "upstream",
		});
		expect(BigInt(gen.json().cost)).toBe((2n * 2_000_000_000_000_000n + 3n * 6_000_000_000_000_000n) / 1_000_000n);
	});

	it("waits for a streamed request still being charged instead of answering 404", async () => {
		const { key } = await newKey();
		const model = await newModel();
		const { openGateway } = await import("../helpers/gateway.ts");
		const { response, done } = await openGateway("/v1/chat/completions", {
			key,
			json: { model, stream: true, max_tokens: 4, messages: [{ role: "user", content: "go" }] },
		});
		const id = response.headers.get("x-request-id");
		const lookup = callGateway(`/v1/generations/${id}`, { key });
		await response.text();
		await done();
		const gen = await lookup;
		expect(gen.status).toBe(200);
		expect(gen.json().completion_tokens).toBe(4);
	});

	it("answers 404 to another payer's key and 401 to a bad key", async () => {
		const owner = await newKey();
		const stranger = await newKey();
		const model = await newModel();
		const res = await callGateway("/v1/chat/completions", {
			key: owner.key,
			json: { model, messages: [{ role: "user", content: "x" }] },
		});
		const id = res.headers.get("x-request-id");
		expect((await callGateway(`/v1/generations/${id}`, { key: stranger.key })).status).toBe(404);
		expect((await callGateway(`/v1/generations/${id}`, { key: "nope" })).status).toBe(401);
	});
});

describe("API description", () => {
	it("serves an OpenAPI 3.1 document generated from the schemas, and a docs page", async () => {
		const res = await callGateway("/openapi.json");
		expect(res.status).toBe(200);
		const doc = res.json();
		expect(doc.openapi).toBe("3.1.0");
		for (const path of [
			"/v1/chat/completions",
			"/v1/embeddings",
			"/v1/models",
			"/v1/models/{id}/stats",
			"/v1/generations/{id}",
		]) {
			expect(doc.paths[path]).toBeDefined();
		}
		expect(doc.components.schemas.ChatCompletionRequest.properties.messages).toBeDefined();
		const docs = await callGateway("/docs");
		expect(docs.status).toBe(200);
		expect(docs.text).toContain("/openapi.json");
	});

	it("says which times are Unix milliseconds, unlike the seconds of the other routes", async () => {
		const { key } = await newKey();
		const model = await newModel();
		const res = await callGateway("/v1/chat/completions", { key, json: { model, messages: [{ role: "user", content: "x" }] } });
		const gen = (await callGateway(`/v1/generations/${res.headers.get("x-request-id")}`, { key })).json();
		const stats = (await callGateway(`/v1/models/${model}/stats`)).json();
		// The values are milliseconds...
		expect(gen.created_at).toBeGreaterThan(Date.now() - 60_000);
		expect(stats.updated_at).toBeGreaterThan(Date.now() - 60_000);
		// ...and the document says so, since /v1/models, keys and withdrawals use seconds.
		const schemas = (await callGateway("/openapi.json")).json().components.schemas;
		for (const field of [
			schemas.Generation.properties.created_at,
			schemas.Generation.properties.finished_at,
			schemas.ModelStats.properties.updated_at,
		]) {
			expect(field.description).toMatch(/milliseconds/);
		}
	});

	it("answers unknown paths with a 404 in OpenAI's format", async () => {
		const res = await callGateway("/v1/nothing-here");
		expect(res.status).toBe(404);
		expect(res.json().error).toMatchObject({ code: "not_found", type: "invalid_request_error" });
	});
});
