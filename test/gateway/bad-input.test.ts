import { describe, expect, it } from "vitest";
import { ledgerFor } from "../../workers/gateway/accounts.ts";
import { newKey, newModel, testEnv, upstreamRequestsWith } from "../helpers/fixtures.ts";
import { callGateway } from "../helpers/gateway.ts";

// Whatever a client sends to the inference endpoints, the answer is an error in OpenAI's
// shape (never a 500), nothing reaches the upstream and nothing is charged or held.

const ENDPOINTS = [
	["/v1/chat/completions", (model: string, marker: string) => ({ model, messages: [{ role: "user", content: marker }] })],
	["/v1/completions", (model: string, marker: string) => ({ model, prompt: marker })],
	["/v1/embeddings", (model: string, marker: string) => ({ model, input: marker })],
] as const;

async function expectUntouched(payer: string, marker: string) {
	expect(await upstreamRequestsWith(marker)).toHaveLength(0);
	const account = await ledgerFor(testEnv(), payer).account();
	expect(account.totalSpent).toBe(0n);
	expect(account.held).toBe(0n);
}

describe.each(ENDPOINTS)("bad input to POST %s", (path, bodyFor) => {
	it("answers each malformed body with a 400 in OpenAI's shape, free of charge", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const marker = crypto.randomUUID();
		const valid = JSON.stringify(bodyFor(model, marker));
		const cases: Array<[string, string, string, string | null]> = [
			["cut-off JSON", valid.slice(0, -5), "invalid_json", null],
			["an empty body", "", "invalid_json", null],
			["form encoding", `model=${model}&marker=${marker}`, "invalid_json", null],
			["a JSON array", `[${valid}]`, "invalid_request", null],
			["a JSON string", JSON.stringify(valid), "invalid_request", null],
			["no model", JSON.stringify({ ...bodyFor(model, marker), model: undefined }), "invalid_request", "model"],
			["a numeric model", JSON.stringify({ ...bodyFor(model, marker), model: 7 }), "invalid_request", "model"],
		];
		for (const [what, body, code, param] of cases) {
			const res = await callGateway(path, {
				key,
				method: "POST",
				headers: { "content-type": "application/json" },
				body,
			});
			expect(res.status, what).toBe(400);
			expect(res.json(), what).toEqual({ error: { message: expect.any(String), type: "invalid_request_error", code, param } });
		}
		await expectUntouched(payer, marker);
	});

	it("answers a bad number with a 400 naming its field, free of charge", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const marker = crypto.randomUUID();
		const field = path === "/v1/embeddings" ? "dimensions" : "max_tokens";
		for (const value of [-1, 0, 1.5, 1e300, "16", null].filter((v) => v !== null || field === "dimensions")) {
			const res = await callGateway(path, { key, json: { ...bodyFor(model, marker), [field]: value } });
			expect(res.status, String(value)).toBe(400);
			expect(res.json().error, String(value)).toMatchObject({ code: "invalid_request", param: field });
		}
		await expectUntouched(payer, marker);
	});

	it("passes fields it does not know on to the upstream", async () => {
		const { key } = await newKey();
		const model = await newModel();
		const marker = crypto.randomUUID();
		const res = await callGateway(path, { key, json: { ...bodyFor(model, marker), user: "u-1", seed: 7 } });
		expect(res.status).toBe(200);
		expect((await upstreamRequestsWith(marker))[0]?.body).toMatchObject({ user: "u-1", seed: 7 });
	});

	it("answers a body over the size limit with 413 request_too_large, free of charge", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const marker = crypto.randomUUID();
		const res = await callGateway(path, { key, json: { ...bodyFor(model, marker), padding: "x".repeat(1_100_000) } });
		expect(res.status).toBe(413);
		expect(res.json().error).toMatchObject({ code: "request_too_large", type: "invalid_request_error" });
		await expectUntouched(payer, marker);
	});

	it("reads a JSON body sent with another Content-Type, as curl users often do", async () => {
		const { key } = await newKey();
		const model = await newModel();
		const marker = crypto.randomUUID();
		const res = await callGateway(path, {
			key,
			method: "POST",
			headers: { "content-type": "application/x-www-form-urlencoded" },
			body: JSON.stringify(bodyFor(model, marker)),
		});
		expect(res.status).toBe(200);
		expect(await upstreamRequestsWith(marker)).toHaveLength(1);
	});
});

describe.each(ENDPOINTS.slice(0, 2))("a completion limit above the model's cap, POST %s", (path, bodyFor) => {
	it("answers 400 naming the field and the cap, as OpenAI does; nothing is sent, charged or held", async () => {
		const { key, payer } = await newKey();
		const model = await newModel({ maxOutputTokens: 1000 });
		const marker = crypto.randomUUID();
		const fields = path === "/v1/chat/completions" ? ["max_tokens", "max_completion_tokens"] : ["max_tokens"];
		for (const field of fields) {
			const res = await callGateway(path, { key, json: { ...bodyFor(model, marker), [field]: 1001 } });
			expect(res.status, field).toBe(400);
			expect(res.json(), field).toEqual({
				error: {
					message: `${field} is too large: 1001. This model supports at most 1000 completion tokens, whereas you provided 1001.`,
					type: "invalid_request_error",
					code: "invalid_request",
					param: field,
				},
			});
		}
		await expectUntouched(payer, marker);
	});

	it("runs a request at the cap, and one whose smaller limit is within it, forwarding that limit", async () => {
		const { key } = await newKey();
		const model = await newModel({ maxOutputTokens: 1000 });
		const atCap = crypto.randomUUID();
		expect((await callGateway(path, { key, json: { ...bodyFor(model, atCap), max_tokens: 1000 } })).status).toBe(200);
		expect((await upstreamRequestsWith(atCap))[0]?.body).toMatchObject({ max_tokens: 1000 });
		if (path !== "/v1/chat/completions") return;
		const both = crypto.randomUUID();
		const res = await callGateway(path, { key, json: { ...bodyFor(model, both), max_tokens: 5000, max_completion_tokens: 600 } });
		expect(res.status).toBe(200);
		expect((await upstreamRequestsWith(both))[0]?.body).toMatchObject({ max_tokens: 600 });
	});
});

describe.each(ENDPOINTS.slice(0, 2))("more than one answer per request, POST %s", (path, bodyFor) => {
	it("answers 400 naming n or best_of (the hold covers one answer); nothing is sent, charged or held", async () => {
		const { key, payer } = await newKey();
		const model = await newModel();
		const marker = crypto.randomUUID();
		const fields = path === "/v1/completions" ? ["n", "best_of"] : ["n"];
		for (const field of fields) {
			const res = await callGateway(path, { key, json: { ...bodyFor(model, marker), [field]: 3 } });
			expect(res.status, field).toBe(400);
			expect(res.json().error, field).toMatchObject({ code: "invalid_request", type: "invalid_request_error", param: field });
			expect(res.json().error.message, field).toContain(`only ${field}=1 is supported`);
		}
		await expectUntouched(payer, marker);
	});
});
