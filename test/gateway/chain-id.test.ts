import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../workers/gateway/index.ts";
import { newKey, newModel } from "../helpers/fixtures.ts";
import { callGateway } from "../helpers/gateway.ts";

// GET /v1/chain: the deployment's chain (CHAIN_ID), which the dashboard has the wallet
// switch to before it sends anything.

describe("GET /v1/chain", () => {
	it("serves CHAIN_ID (wrangler.toml's, 31337) without a session", async () => {
		const res = await callGateway("/v1/chain");
		expect(res.status).toBe(200);
		expect(res.json()).toEqual({ object: "chain", chain_id: 31337 });
	});

	it("serves another chain's id when CHAIN_ID says so", async () => {
		const res = await callGateway("/v1/chain", { env: { CHAIN_ID: "8453" } });
		expect(res.json()).toEqual({ object: "chain", chain_id: 8453 });
	});

	it("serves null when CHAIN_ID is not set", async () => {
		const { CHAIN_ID: _, ...unset } = env as TestEnv;
		const ctx = createExecutionContext();
		const res = await worker.fetch(new Request("https://gateway.test/v1/chain"), unset as TestEnv, ctx);
		await waitOnExecutionContext(ctx);
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({ object: "chain", chain_id: null });
	});

	it("answers an error, not a wrong or missing chain, when CHAIN_ID is malformed, and inference still works", async () => {
		const res = await callGateway("/v1/chain", { env: { CHAIN_ID: "mainnet" } });
		expect(res.status).toBe(500);
		expect(res.json().error).toMatchObject({ code: "internal_error", type: "server_error" });
		expect(res.json().error.message).toContain("CHAIN_ID setting is not a chain id");
		const { key } = await newKey();
		const model = await newModel();
		const chat = await callGateway("/v1/chat/completions", {
			key,
			env: { CHAIN_ID: "mainnet" },
			json: { model, messages: [{ role: "user", content: "hi" }] },
		});
		expect(chat.status).toBe(200);
	});

	it("is documented in /openapi.json", async () => {
		const doc = (await callGateway("/openapi.json")).json();
		expect(doc.paths["/v1/chain"].get.responses["200"]).toBeDefined();
		expect(doc.components.schemas.Chain.properties.chain_id).toMatchObject({ type: ["integer", "null"] });
	});
});
