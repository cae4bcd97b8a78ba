import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { models } from "../../lib/db/schema.ts";
import { ledgerFor } from "../../workers/gateway/accounts.ts";
import worker from "../../workers/gateway/index.ts";
import { issueSession } from "../../workers/gateway/session.ts";
import { db, newKey, newModel, newPayer, PACA, testEnv, upstreamRequestsWith } from "../helpers/fixtures.ts";
import { callGateway } from "../helpers/gateway.ts";

const ADMIN = { authorization: `Bearer ${testEnv().ADMIN_TOKEN}` };

function admin(path: string, init: { method?: string; json?: unknown; body?: string } = {}) {
	return callGateway(path, { headers: ADMIN, ...init });
}

function newModelId(): string {
	return `admin-test/model-${crypto.randomUUID().slice(0, 8)}`;
}

/** A model description routed to the stand-in upstream (with a behaviour suffix, if any). */
function modelBody(overrides: Record<string, unknown> = {}, behaviour = "") {
	return {
		display_name: "Admin Test 7B",
		input_price_per_m: "2000000000000000",
		output_price_per_m: "6000000000000000",
		upstreams: [{ kind: "openai", base_url: testEnv().STAND_IN_URL, upstream_model: `stand-in${behaviour}` }],
		...overrides,
	};
}

function chat(key: string, model: string, content = "hi", extra: Record<string, unknown> = {}) {
	return callGateway("/v1/chat/completions", { key, json: { model, messages: [{ role: "user", content }], ...extra } });
}

describe("Admin API: models", () => {
	it("registers a model that a key can call at once, with the prices and limits given", async () => {
		const id = newModelId();
		const res = await admin(`/v1/admin/models/${id}`, {
			method: "PUT",
			json: modelBody({ max_output_tokens: 77, hf_repo: "org/admin-test-7b", hf_revision: "abc123" }),
		});
		expect(res.status).toBe(200);
		expect(res.json()).toEqual({
			id,
			object: "model",
			display_name: "Admin Test 7B",
			enabled: true,
			input_price_per_m: "2000000000000000",
			output_price_per_m: "6000000000000000",
			max_output_tokens: 77,
			hf_repo: "org/admin-test-7b",
			hf_revision: "abc123",
			token_address: null,
			upstreams: [{ kind: "openai", base_url: testEnv().STAND_IN_URL, upstream_model: "stand-in", api_key_secret: null }],
			created_at: expect.any(Number),
		});

		const { key } = await newKey();
		const marker = crypto.randomUUID();
		const call = await chat(key, id, marker);
		expect(call.status).toBe(200);
		const [seen] = await upstreamRequestsWith(marker);
		// No max_tokens in the request: the gateway sends the model's registered cap.
		expect(seen?.body).toMatchObject({ model: "stand-in", max_tokens: 77 });
	});

	it("reroutes a model to its new upstream as soon as the update is saved", async () => {
		const id = newModelId();
		await admin(`/v1/admin/models/${id}`, { method: "PUT", json: modelBody({}, ":http-500") });
		const { key } = await newKey();
		expect((await chat(key, id)).status).toBe(502);

		const update = await admin(`/v1/admin/models/${id}`, { method: "PUT", json: modelBody() });
		expect(update.status).toBe(200);
		const marker = crypto.randomUUID();
		const res = await chat(key, id, marker);
		expect(res.status).toBe(200);
		expect((await upstreamRequestsWith(marker))[0]?.body.model).toBe("stand-in");
	});

	it("keeps upstreams in the order given and resets fields a later PUT leaves out, but the model's chain link", async () => {
		const id = newModelId();
		const token = `0x${"ab".repeat(20)}`;
		await admin(`/v1/admin/models/${id}`, {
			method: "PUT",
			json: modelBody({ hf_repo: "org/x", hf_revision: "r1", token_address: token, max_output_tokens: 77 }),
		});
		const res = await admin(`/v1/admin/models/${id}`, {
			method: "PUT",
			json: modelBody({
				upstreams: [
					{ kind: "workers-ai", upstream_model: "@cf/meta/llama-3.1-8b-instruct" },
					{ kind: "openai", base_url: "https://api.example.com/v1", api_key_secret: "UPSTREAM_KEY_EXAMPLE" },
				],
			}),
		});
		expect(res.status).toBe(200);
		expect(res.json()).toMatchObject({
			// Rerouting a tokenized model keeps its token (the settler pays holders by it) and repo.
			hf_repo: "org/x",
			hf_revision: "r1",
			token_address: token,
			max_output_tokens: 4096,
			upstreams: [
				{ kind: "workers-ai", base_url: null, upstream_model: "@cf/meta/llama-3.1-8b-instruct", api_key_secret: null },
				{ kind: "openai", base_url: "https://api.example.com/v1", upstream_model: null, api_key_secret: "UPSTREAM_KEY_EXAMPLE" },
			],
		});
		expect((await admin(`/v1/admin/models/${id}`)).json()).toEqual(res.json());
		// null clears them.
		const cleared = await admin(`/v1/admin/models/${id}`, {
			method: "PUT",
			json: modelBody({ hf_repo: null, hf_revision: null, token_address: null }),
		});
		expect(cleared.json()).toMatchObject({ hf_repo: null, hf_revision: null, token_address: null });
	});

	it("disables a model (404 model_not_found to callers) and enables it again", async () => {
		const model = await newModel();
		const { key } = await newKey();
		expect((await chat(key, model)).status).toBe(200);

		const disabled = await admin(`/v1/admin/models/${model}/disable`, { method: "POST" });
		expect(disabled.status).toBe(200);
		expect(disabled.json()).toMatchObject({ id: model, enabled: false });
		const refused = await chat(key, model);
		expect(refused.status).toBe(404);
		expect(refused.json().error).toMatchObject({ code: "model_not_found", param: "model" });

		// An update does not switch a disabled model back on; only /enable does.
		await admin(`/v1/admin/models/${model}`, { method: "PUT", json: modelBody() });
		expect((await chat(key, model)).status).toBe(404);

		const enabled = await admin(`/v1/admin/models/${model}/enable`, { method: "POST" });
		expect(enabled.json()).toMatchObject({ id: model, enabled: true });
		expect((await chat(key, model)).status).toBe(200);
	});

	it("accepts a model id whose slash is percent-encoded", async () => {
		const id = newModelId();
		const res = await admin(`/v1/admin/models/${encodeURIComponent(id)}`, { method: "PUT", json: modelBody() });
		expect(res.status).toBe(200);
		expect(res.json().id).toBe(id);
	});
});

describe("Admin API: credits", () => {
	it("credits an account once per idempotency key", async () => {
		const { key, payer } = await newKey({ credit: 0n });
		const json = { payer, amount: (3n * PACA).toString(), idempotency_key: `deposit-${crypto.randomUUID()}` };

		const first = await admin("/v1/admin/credits", { json });
		expect(first.status).toBe(201);
		expect(first.json()).toEqual({
			object: "credit",
			payer,
			amount: (3n * PACA).toString(),
			idempotency_key: json.idempotency_key,
			applied: true,
			balance: (3n * PACA).toString(),
		});

		const again = await admin("/v1/admin/credits", { json });
		expect(again.status).toBe(200);
		expect(again.json()).toMatchObject({ applied: false, balance: (3n * PACA).toString() });
		expect((await ledgerFor(testEnv(), payer).account()).totalCredited).toBe(3n * PACA);

		const another = await admin("/v1/admin/credits", { json: { ...json, idempotency_key: crypto.randomUUID() } });
		expect(another.json()).toMatchObject({ applied: true, balance: (6n * PACA).toString() });
		expect((await chat(key, await newModel(), "hi", { max_tokens: 5 })).status).toBe(200);
	});

	it("answers 409 naming the key when it was used for another amount, and credits nothing more", async () => {
		const payer = newPayer();
		const json = { payer, amount: "5", idempotency_key: `k-${crypto.randomUUID()}` };
		expect((await admin("/v1/admin/credits", { json })).status).toBe(201);

		const other = await admin("/v1/admin/credits", { json: { ...json, amount: "7" } });
		expect(other.status).toBe(409);
		expect(other.headers.get("x-should-retry")).toBe("false");
		expect(other.json().error).toMatchObject({
			code: "idempotency_conflict",
			type: "invalid_request_error",
			param: "idempotency_key",
		});
		expect(other.json().error.message).toContain("5");
		expect((await ledgerFor(testEnv(), payer).account()).balance).toBe(5n);
	});

	it("credits the same ledger whatever the case of the payer address", async () => {
		const payer = newPayer();
		const mixed = `0x${payer.slice(2).toUpperCase()}`;
		const res = await admin("/v1/admin/credits", { json: { payer: mixed, amount: "5", idempotency_key: "k1" } });
		expect(res.json()).toMatchObject({ payer, balance: "5" });
		expect((await ledgerFor(testEnv(), payer).account()).balance).toBe(5n);
	});
});

describe("Admin API: errors", () => {
	it.each([
		["payer", { payer: "0x1234", amount: "1", idempotency_key: "k" }],
		["amount", { payer: newPayer(), amount: "0", idempotency_key: "k" }],
		["amount", { payer: newPayer(), amount: "1.5", idempotency_key: "k" }],
		["amount", { payer: newPayer(), amount: 1, idempotency_key: "k" }],
		["idempotency_key", { payer: newPayer(), amount: "1", idempotency_key: "" }],
		["idempotency_key", { payer: newPayer(), amount: "1" }],
	])("answers 400 naming '%s' for a bad credit", async (param, json) => {
		const res = await admin("/v1/admin/credits", { json });
		expect(res.status).toBe(400);
		const { error } = res.json();
		expect(error).toMatchObject({ code: "invalid_request", param, type: "invalid_request_error" });
		expect(error.message).toContain(param);
	});

	it.each([
		["display_name", { display_name: "" }],
		["input_price_per_m", { input_price_per_m: "1e18" }],
		["output_price_per_m", { output_price_per_m: -1 }],
		["max_output_tokens", { max_output_tokens: 0 }],
		["token_address", { token_address: "0xnope" }],
		["upstreams", { upstreams: [] }],
		["upstreams[0].kind", { upstreams: [{ kind: "carrier-pigeon" }] }],
		["upstreams[0].base_url", { upstreams: [{ kind: "openai", base_url: "ftp://example.com" }] }],
		["upstreams[0].base_url", { upstreams: [{ kind: "openai" }] }],
		[
			"upstreams[0].api_key_secret",
			{ upstreams: [{ kind: "openai", base_url: "https://example.com/v1", api_key_secret: "ADMIN_TOKEN" }] },
		],
		["upstreams[0].upstream_model", { upstreams: [{ kind: "workers-ai" }] }],
	])("answers 400 naming '%s' for a bad model and stores nothing", async (param, fields) => {
		const id = newModelId();
		const res = await admin(`/v1/admin/models/${id}`, { method: "PUT", json: modelBody(fields) });
		expect(res.status).toBe(400);
		expect(res.json().error).toMatchObject({ code: "invalid_request", param });
		expect(await db().select().from(models).where(eq(models.id, id)).all()).toEqual([]);
	});

	it("answers 400 naming 'id' for a model id it cannot store", async () => {
		for (const id of ["-leading-dash", "a//b", "org/model/disable", `x${"y".repeat(200)}`]) {
			const res = await admin(`/v1/admin/models/${id}`, { method: "PUT", json: modelBody() });
			expect(res.status).toBe(400);
			expect(res.json().error).toMatchObject({ code: "invalid_request", param: "id" });
		}
	});

	it("answers 400 invalid_json for a body that is not JSON", async () => {
		const res = await admin("/v1/admin/credits", { method: "POST", body: "{ nope" });
		expect(res.status).toBe(400);
		expect(res.json().error.code).toBe("invalid_json");
	});

	it("answers 413 for a body over the size limit, before reading it as JSON", async () => {
		const big = `{"display_name": "${"x".repeat(1_048_577)}"}`;
		for (const [path, method] of [
			[`/v1/admin/models/${newModelId()}`, "PUT"],
			["/v1/admin/credits", "POST"],
		]) {
			const res = await admin(path as string, { method, body: big });
			expect(res.status).toBe(413);
			expect(res.json().error).toMatchObject({ code: "request_too_large", type: "invalid_request_error" });
		}
	});

	it("answers 404 model_not_found when disabling or reading a model that does not exist", async () => {
		for (const [path, method] of [
			["/v1/admin/models/nobody/nothing/disable", "POST"],
			["/v1/admin/models/nobody/nothing/enable", "POST"],
			["/v1/admin/models/nobody/nothing", "GET"],
		]) {
			const res = await admin(path as string, { method });
			expect(res.status).toBe(404);
			expect(res.json().error).toMatchObject({ code: "model_not_found", param: "id" });
		}
	});
});

describe("Admin API: security", () => {
	it("answers 401 in OpenAI's format without the admin token, with a wrong one, or with other credentials", async () => {
		const { key, payer } = await newKey({ credit: 0n });
		const session = (await issueSession(testEnv(), payer)).token;
		const token = testEnv().ADMIN_TOKEN ?? "";
		for (const authorization of [
			undefined,
			"Bearer wrong-token",
			`Bearer ${token}x`,
			`Bearer ${token.slice(0, -1)}`,
			`Basic ${btoa(`admin:${token}`)}`,
			`Bearer ${key}`,
			`Bearer ${session}`,
		]) {
			const res = await callGateway("/v1/admin/credits", {
				...(authorization ? { headers: { authorization } } : {}),
				json: { payer, amount: "1000", idempotency_key: crypto.randomUUID() },
			});
			expect(res.status).toBe(401);
			expect(res.json()).toEqual({
				error: { message: expect.any(String), type: "invalid_request_error", code: "unauthorized", param: null },
			});
		}
		expect((await ledgerFor(testEnv(), payer).account()).totalCredited).toBe(0n);
	});

	it("changes no model for a caller without the admin token", async () => {
		const model = await newModel();
		const res = await callGateway(`/v1/admin/models/${model}/disable`, {
			method: "POST",
			headers: { authorization: "Bearer x" },
		});
		expect(res.status).toBe(401);
		expect((await db().select().from(models).where(eq(models.id, model)).get())?.enabled).toBe(true);
	});

	it("answers 401 before 404 on unknown admin paths, so they reveal nothing", async () => {
		const res = await callGateway("/v1/admin/secrets");
		expect(res.status).toBe(401);
	});
});

describe("OpenAPI document", () => {
	it("describes the account and admin routes with their bodies", () => {
		const doc = worker.getOpenAPI31Document({ openapi: "3.1.0", info: { title: "test", version: "0" } });
		const paths = doc.paths ?? {};
		for (const [path, method] of [
			["/v1/auth/nonce", "get"],
			["/v1/auth/verify", "post"],
			["/v1/account", "get"],
			["/v1/account/keys", "post"],
			["/v1/account/keys", "get"],
			["/v1/account/keys/{id}", "delete"],
			["/v1/admin/models/{id}", "put"],
			["/v1/admin/models/{id}/disable", "post"],
			["/v1/admin/credits", "post"],
		] as const) {
			expect(paths[path]?.[method], `${method} ${path}`).toBeDefined();
		}
		const credit = paths["/v1/admin/credits"]?.post?.requestBody;
		expect(JSON.stringify(credit)).toContain("idempotency_key");
	});

	it("names the session scheme (not the API key's) on every route that takes only a session token", async () => {
		const doc = worker.getOpenAPI31Document({ openapi: "3.1.0", info: { title: "test", version: "0" } });
		const accountOps = Object.entries(doc.paths ?? {})
			.filter(([path]) => path.startsWith("/v1/account"))
			.flatMap(([path, ops]) =>
				Object.entries(ops as Record<string, { security?: unknown }>).map(([method, op]) => [`${method} ${path}`, op.security]),
			);
		expect(accountOps.map(([op]) => op)).toEqual(
			expect.arrayContaining(["get /v1/account/usage", "get /v1/account/deposits", "post /v1/account/withdrawals"]),
		);
		for (const [op, security] of accountOps) expect(security, String(op)).toEqual([{ session: [] }]);
		// And the routes do refuse an API key, as the scheme says.
		const { key } = await newKey();
		for (const path of ["/v1/account/usage?epoch=0", "/v1/account/deposits", "/v1/account/withdrawals"]) {
			expect((await callGateway(path, { key })).status, path).toBe(401);
		}
	});
});

describe("POST /v1/admin/jobs/{name}", () => {
	it("needs the admin token", async () => {
		const res = await callGateway("/v1/admin/jobs/indexer", { method: "POST" });
		expect(res.status).toBe(401);
	});

	it("answers 404 when the cron Workers are not bound, as in the deployed gateway", async () => {
		const res = await admin("/v1/admin/jobs/indexer", { method: "POST" });
		expect(res.status).toBe(404);
		expect(res.json().error.message).toContain("only the local stack binds it");
		expect((await admin("/v1/admin/jobs/nothing", { method: "POST" })).status).toBe(404);
	});
});
