import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { eq } from "drizzle-orm";
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { createSiweMessage } from "viem/siwe";
import { describe, expect, it } from "vitest";
import { KEPT_REVOKED_KEYS } from "../../durable-objects/account-ledger.ts";
import { apiKeys } from "../../lib/db/schema.ts";
import { ledgerFor } from "../../workers/gateway/accounts.ts";
import worker from "../../workers/gateway/index.ts";
import { MAX_ACTIVE_KEYS } from "../../workers/gateway/routes/account.ts";
import { issueSession, SESSION_TTL_MS } from "../../workers/gateway/session.ts";
import { db, newKey, newModel, PACA, standIn, testEnv } from "../helpers/fixtures.ts";
import { callGateway, openGateway } from "../helpers/gateway.ts";

const HOST = "gateway.test"; // the host callGateway sends requests to
const CHAIN = 31337; // the deployment's chain: wrangler.toml's CHAIN_ID, which the tests run with
const ADMIN = { authorization: `Bearer ${testEnv().ADMIN_TOKEN}` };

function newWallet(): PrivateKeyAccount {
	return privateKeyToAccount(generatePrivateKey());
}

async function freshNonce(): Promise<string> {
	const res = await callGateway("/v1/auth/nonce");
	expect(res.status).toBe(200);
	return res.json().nonce;
}

/** A SIWE message over a fresh nonce, signed by `signer` (the wallet itself unless a test says otherwise). */
async function signedMessage(
	wallet: PrivateKeyAccount,
	overrides: Partial<Parameters<typeof createSiweMessage>[0]> = {},
	signer: PrivateKeyAccount = wallet,
) {
	const message = createSiweMessage({
		domain: HOST,
		address: wallet.address,
		uri: `https://${HOST}/login`,
		version: "1",
		chainId: CHAIN,
		nonce: await freshNonce(),
		issuedAt: new Date(),
		statement: "Sign in to Modeldex.",
		...overrides,
	});
	return { message, signature: await signer.signMessage({ message }) };
}

async function verify(body: unknown) {
	return callGateway("/v1/auth/verify", { json: body });
}

async function signIn(wallet = newWallet()) {
	const res = await verify(await signedMessage(wallet));
	expect(res.status).toBe(200);
	return { wallet, payer: wallet.address.toLowerCase(), token: res.json().token as string };
}

async function createKey(token: string, json: unknown = {}) {
	return callGateway("/v1/account/keys", { key: token, json });
}

async function adminCredit(payer: string, amount: bigint) {
	const res = await callGateway("/v1/admin/credits", {
		headers: ADMIN,
		json: { payer, amount: amount.toString(), idempotency_key: crypto.randomUUID() },
	});
	expect(res.status).toBe(201);
}

function chat(key: string, model: string, extra: Record<string, unknown> = {}) {
	return callGateway("/v1/chat/completions", {
		key,
		json: { model, messages: [{ role: "user", content: "hi" }], max_tokens: 5, ...extra },
	});
}

describe("Sign-In with Ethereum: happy path", () => {
	it("hands out distinct one-time nonces that EIP-4361 accepts", async () => {
		const [a, b] = [await freshNonce(), await freshNonce()];
		expect(a).toMatch(/^[a-zA-Z0-9]{8,}$/);
		expect(a).not.toBe(b);
	});

	it("signs a wallet in and returns a 24-hour session for its address", async () => {
		const wallet = newWallet();
		const before = Date.now();
		const res = await verify(await signedMessage(wallet));
		expect(res.status).toBe(200);
		const body = res.json();
		expect(body.payer).toBe(wallet.address.toLowerCase());
		expect(body.token).toMatch(/^mdxs_[0-9a-f]{40}_\d+_[A-Za-z0-9_-]{43}$/);
		expect(body.expires_at * 1000).toBeGreaterThanOrEqual(before + SESSION_TTL_MS - 1000);
		expect(body.expires_at * 1000).toBeLessThanOrEqual(Date.now() + SESSION_TTL_MS);

		const account = await callGateway("/v1/account", { key: body.token });
		expect(account.status).toBe(200);
		expect(account.json().payer).toBe(wallet.address.toLowerCase());
	});

	it("ends the session when the signed message expires, if that is sooner than 24 hours", async () => {
		const expirationTime = new Date(Date.now() + 60 * 60_000);
		const res = await verify(await signedMessage(newWallet(), { expirationTime }));
		expect(res.status).toBe(200);
		expect(res.json().expires_at).toBe(Math.floor(expirationTime.getTime() / 1000));
	});

	it("accepts any chain id when CHAIN_ID is not set (the gateway names no chain)", async () => {
		const { CHAIN_ID: _, ...unset } = env as TestEnv;
		const ctx = createExecutionContext();
		const res = await worker.fetch(
			new Request(`https://${HOST}/v1/auth/verify`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify(await signedMessage(newWallet(), { chainId: 8453 })),
			}),
			unset as TestEnv,
			ctx,
		);
		await waitOnExecutionContext(ctx);
		expect(res.status).toBe(200);
	});
});

describe("Sign-In with Ethereum: refused sign-ins", () => {
	it("refuses a message whose nonce was already used", async () => {
		const signed = await signedMessage(newWallet());
		expect((await verify(signed)).status).toBe(200);
		const replay = await verify(signed);
		expect(replay.status).toBe(401);
		expect(replay.json().error).toMatchObject({ code: "unauthorized", type: "invalid_request_error" });
		expect(replay.json().error.message).toContain("nonce");
	});

	it("gives one session when the same message is sent twice at once", async () => {
		const signed = await signedMessage(newWallet());
		const results = await Promise.all([verify(signed), verify(signed)]);
		expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
	});

	it("refuses a nonce the gateway never issued", async () => {
		const res = await verify(await signedMessage(newWallet(), { nonce: "abcdef0123456789abcdef0123456789" }));
		expect(res.status).toBe(401);
		expect(res.json().error.code).toBe("unauthorized");
	});

	it("refuses a message for another domain, and leaves its nonce usable", async () => {
		const wallet = newWallet();
		const nonce = await freshNonce();
		const res = await verify(await signedMessage(wallet, { domain: "evil.example", nonce }));
		expect(res.status).toBe(401);
		expect(res.json().error.message).toContain("evil.example");
		// Only a valid sign-in spends a nonce.
		expect((await verify(await signedMessage(wallet, { nonce }))).status).toBe(200);
	});

	it("refuses a message whose URI is on another host, and leaves its nonce usable", async () => {
		const wallet = newWallet();
		const nonce = await freshNonce();
		const res = await verify(await signedMessage(wallet, { uri: "https://evil.example/login", nonce }));
		expect(res.status).toBe(401);
		expect(res.json().error.message).toContain("evil.example");
		expect((await verify(await signedMessage(wallet, { nonce }))).status).toBe(200);
	});

	it("refuses a message for another chain, naming both, and leaves its nonce usable", async () => {
		const wallet = newWallet();
		const nonce = await freshNonce();
		const res = await verify(await signedMessage(wallet, { chainId: 8453, nonce }));
		expect(res.status).toBe(401);
		expect(res.json().error).toMatchObject({ code: "unauthorized", type: "invalid_request_error", param: "message" });
		expect(res.json().error.message).toContain("chain id 8453");
		expect(res.json().error.message).toContain(`Modeldex runs on chain id ${CHAIN}`);
		expect((await verify(await signedMessage(wallet, { nonce }))).status).toBe(200);
	});

	it("holds the message to CHAIN_ID as configured, not to one chain", async () => {
		const signed = await signedMessage(newWallet(), { chainId: 8453 });
		const res = await callGateway("/v1/auth/verify", { json: signed, env: { CHAIN_ID: "8453" } });
		expect(res.status).toBe(200);
	});

	it("refuses every sign-in with a clear 500 when CHAIN_ID is malformed, and inference still works", async () => {
		const signed = await signedMessage(newWallet());
		const res = await callGateway("/v1/auth/verify", { json: signed, env: { CHAIN_ID: "mainnet" } });
		expect(res.status).toBe(500);
		expect(res.json().error).toMatchObject({ code: "internal_error", type: "server_error" });
		expect(res.json().error.message).toContain("CHAIN_ID setting is not a chain id");
		// Nothing was signed in with it: the nonce is still there for a sign-in once it is fixed.
		expect((await verify(signed)).status).toBe(200);
		const { key } = await newKey();
		const model = await newModel();
		const chatUnderBadChain = await callGateway("/v1/chat/completions", {
			key,
			env: { CHAIN_ID: "mainnet" },
			json: { model, messages: [{ role: "user", content: "hi" }], max_tokens: 5 },
		});
		expect(chatUnderBadChain.status).toBe(200);
	});

	it("refuses an expired message", async () => {
		const res = await verify(
			await signedMessage(newWallet(), {
				issuedAt: new Date(Date.now() - 5 * 60_000),
				expirationTime: new Date(Date.now() - 60_000),
			}),
		);
		expect(res.status).toBe(401);
		expect(res.json().error.message).toContain("expired");
	});

	it("refuses a message that is not valid yet", async () => {
		const res = await verify(await signedMessage(newWallet(), { notBefore: new Date(Date.now() + 60 * 60_000) }));
		expect(res.status).toBe(401);
		expect(res.json().error.message).toContain("not valid yet");
	});

	it("refuses a message signed by another wallet", async () => {
		const victim = newWallet();
		const res = await verify(await signedMessage(victim, {}, newWallet()));
		expect(res.status).toBe(401);
		expect(res.json().error.message).toContain("signature");
	});

	it("answers 400 naming 'message' for text that is not a SIWE message", async () => {
		const wallet = newWallet();
		const message = "please let me in";
		const res = await verify({ message, signature: await wallet.signMessage({ message }) });
		expect(res.status).toBe(400);
		expect(res.json().error).toMatchObject({ code: "invalid_request", param: "message" });
	});

	it.each([
		["signature", { message: "x", signature: "0x1234" }],
		["message", { signature: `0x${"ab".repeat(65)}` }],
		["extra", { message: "x", signature: `0x${"ab".repeat(65)}`, extra: 1 }],
	])("answers 400 naming '%s' when the body fails validation", async (param, body) => {
		const res = await verify(body);
		expect(res.status).toBe(400);
		expect(res.json().error).toMatchObject({ code: "invalid_request", param: param === "extra" ? null : param });
	});
});

describe("API keys: happy path", () => {
	it("shows a new key once; the listing never shows it or its hash", async () => {
		const { token, payer } = await signIn();
		const res = await createKey(token, { name: "laptop", spend_cap: "5000000000000000000", allowed_models: ["a/b", "c/d"] });
		expect(res.status).toBe(201);
		const created = res.json();
		expect(created).toEqual({
			id: expect.stringMatching(/^key_[0-9a-f]{32}$/),
			object: "api_key",
			key: expect.stringMatching(new RegExp(`^mdx_${payer.slice(2)}_[A-Za-z0-9_-]{43}$`)),
			prefix: `${created.key.slice(0, 14)}…${created.key.slice(-4)}`,
			name: "laptop",
			spend_cap: "5000000000000000000",
			spent: "0",
			allowed_models: ["a/b", "c/d"],
			created_at: expect.any(Number),
			revoked_at: null,
		});

		const list = await callGateway("/v1/account/keys", { key: token });
		expect(list.status).toBe(200);
		expect(list.text).not.toContain(created.key);
		expect(list.text).not.toMatch(/hash/i);
		const { key: _shownOnce, ...listed } = created;
		expect(list.json()).toEqual({ object: "list", data: [listed] });
	});

	it("creates a plain key from an empty body", async () => {
		const { token } = await signIn();
		const res = await callGateway("/v1/account/keys", { key: token, method: "POST" });
		expect(res.status).toBe(201);
		expect(res.json()).toMatchObject({ name: "", spend_cap: null, allowed_models: null });
	});

	it("makes a key that calls /v1/chat/completions once the account is credited", async () => {
		const { token, payer } = await signIn();
		const { key } = (await createKey(token)).json();
		const model = await newModel();

		const broke = await chat(key, model);
		expect(broke.status).toBe(402);
		expect(broke.json().error.code).toBe("insufficient_quota");

		await adminCredit(payer, 10n * PACA);
		const res = await chat(key, model);
		expect(res.status).toBe(200);
		expect(res.json().object).toBe("chat.completion");

		const { prompt_tokens, completion_tokens } = res.json().usage;
		// newModel's prices: 2e15 and 6e15 base units per 1M tokens; this sum divides exactly.
		const fee =
			(BigInt(prompt_tokens) * 2_000_000_000_000_000n + BigInt(completion_tokens) * 6_000_000_000_000_000n) / 1_000_000n;
		expect(fee).toBeGreaterThan(0n);
		const account = (await callGateway("/v1/account", { key: token })).json();
		expect(account).toEqual({
			object: "account",
			payer,
			balance: (10n * PACA - fee).toString(),
			held: "0",
			available: (10n * PACA - fee).toString(),
			// All of it was an admin's credit: spendable, nothing to withdraw.
			withdrawable: "0",
			total_credited: (10n * PACA).toString(),
			total_spent: fee.toString(),
		});
		const [listed] = (await callGateway("/v1/account/keys", { key: token })).json().data;
		expect(listed.spent).toBe(fee.toString());
	});

	it("enforces a key's spend cap with 402 insufficient_quota", async () => {
		const { token, payer } = await signIn();
		await adminCredit(payer, 10n * PACA);
		const model = await newModel();
		const capped = (await createKey(token, { spend_cap: "1" })).json();
		const uncapped = (await createKey(token)).json();

		const res = await chat(capped.key, model);
		expect(res.status).toBe(402);
		expect(res.json().error).toMatchObject({ code: "insufficient_quota", type: "insufficient_quota" });
		expect(res.json().error.message).toContain("spend cap");
		expect((await chat(uncapped.key, model)).status).toBe(200);
	});

	it("enforces a key's model allowlist with 403 model_not_allowed", async () => {
		const { token, payer } = await signIn();
		await adminCredit(payer, 10n * PACA);
		const [allowed, other] = [await newModel(), await newModel()];
		const { key } = (await createKey(token, { allowed_models: [allowed] })).json();

		expect((await chat(key, allowed)).status).toBe(200);
		const res = await chat(key, other);
		expect(res.status).toBe(403);
		expect(res.json().error.code).toBe("model_not_allowed");
	});

	it("revokes a key: the next inference call gets 401, the listing and D1 show when", async () => {
		const { token, payer } = await signIn();
		await adminCredit(payer, 10n * PACA);
		const model = await newModel();
		const { id, key } = (await createKey(token)).json();
		expect((await chat(key, model)).status).toBe(200);

		const res = await callGateway(`/v1/account/keys/${id}`, { key: token, method: "DELETE" });
		expect(res.status).toBe(200);
		const revokedAt = res.json().revoked_at;
		expect(revokedAt).toEqual(expect.any(Number));

		const after = await chat(key, model);
		expect(after.status).toBe(401);
		expect(after.json().error.code).toBe("invalid_api_key");

		const [listed] = (await callGateway("/v1/account/keys", { key: token })).json().data;
		expect(listed).toMatchObject({ id, revoked_at: revokedAt });
		const row = await db().select().from(apiKeys).where(eq(apiKeys.id, id)).get();
		expect(row?.revokedAt).toEqual(expect.any(Number));
		expect(Math.floor((row?.revokedAt ?? 0) / 1000)).toBe(revokedAt);
	});

	it("keeps the newest KEPT_REVOKED_KEYS revoked keys: older ones leave the listing and stay refused", async () => {
		const { token, payer } = await signIn();
		await adminCredit(payer, 10n * PACA);
		const model = await newModel();
		const revoked: Array<{ id: string; key: string }> = [];
		for (let i = 0; i < KEPT_REVOKED_KEYS + 3; i++) {
			const { id, key } = (await createKey(token, { name: `k${i}` })).json();
			expect((await callGateway(`/v1/account/keys/${id}`, { key: token, method: "DELETE" })).status).toBe(200);
			revoked.push({ id, key });
		}
		const active = (await createKey(token, { name: "live" })).json();
		const listed = (await callGateway("/v1/account/keys", { key: token })).json().data as Array<{ id: string }>;
		expect(listed).toHaveLength(KEPT_REVOKED_KEYS + 1);
		expect(listed.map((k) => k.id)).toEqual([...revoked.slice(3).map((k) => k.id), active.id]);
		for (const { key } of revoked.slice(0, 3)) {
			const res = await chat(key, model);
			expect(res.status).toBe(401);
			expect(res.json().error.code).toBe("invalid_api_key");
		}
		expect((await chat(active.key, model)).status).toBe(200);
	});

	it("answers a second revocation of the same key with the first revocation's time", async () => {
		const { token } = await signIn();
		const { id } = (await createKey(token)).json();
		const first = await callGateway(`/v1/account/keys/${id}`, { key: token, method: "DELETE" });
		const second = await callGateway(`/v1/account/keys/${id}`, { key: token, method: "DELETE" });
		expect(second.status).toBe(200);
		expect(second.json().revoked_at).toBe(first.json().revoked_at);
	});
});

describe("API keys: errors", () => {
	it.each([
		["spend_cap", { spend_cap: "1.5" }],
		["spend_cap", { spend_cap: 100 }],
		["spend_cap", { spend_cap: "-1" }],
		["allowed_models", { allowed_models: [] }],
		["allowed_models[0]", { allowed_models: [""] }],
		["name", { name: "x".repeat(101) }],
	])("answers 400 naming '%s' for a bad value", async (param, json) => {
		const { token } = await signIn();
		const res = await createKey(token, json);
		expect(res.status).toBe(400);
		expect(res.json().error).toMatchObject({ code: "invalid_request", param });
		expect((await callGateway("/v1/account/keys", { key: token })).json().data).toEqual([]);
	});

	it("answers 400 for an unknown field rather than creating a key without the limit it meant", async () => {
		const { token } = await signIn();
		const res = await createKey(token, { spendcap: "1" });
		expect(res.status).toBe(400);
		expect(res.json().error.code).toBe("invalid_request");
	});

	it("answers 413 for a body over the size limit", async () => {
		const { token } = await signIn();
		const res = await createKey(token, { name: "x".repeat(1_100_000) });
		expect(res.status).toBe(413);
		expect(res.json().error.code).toBe("request_too_large");
	});

	it("answers 413 to a chunked body (no Content-Length) over the limit without reading it all", async () => {
		const { token } = await signIn();
		let pulled = 0;
		const chunk = new TextEncoder().encode(`{"name":"${"x".repeat(65_536)}`);
		const body = new ReadableStream<Uint8Array>({
			pull(controller) {
				// 16 MiB in all, far past the 1 MiB limit.
				if (++pulled > 256) controller.close();
				else controller.enqueue(chunk);
			},
		});
		const res = await callGateway("/v1/account/keys", {
			method: "POST",
			headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
			body,
			duplex: "half",
		} as RequestInit);
		expect(res.status).toBe(413);
		expect(res.json().error.code).toBe("request_too_large");
		expect(pulled).toBeLessThan(40);
	});

	it("refuses a key beyond the active-key limit until one is revoked", async () => {
		const { token } = await signIn();
		const ids: string[] = [];
		for (let i = 0; i < MAX_ACTIVE_KEYS; i++) ids.push((await createKey(token)).json().id);
		const refused = await createKey(token);
		expect(refused.status).toBe(400);
		expect(refused.json().error.message).toContain("revoke one");
		await callGateway(`/v1/account/keys/${ids[0]}`, { key: token, method: "DELETE" });
		expect((await createKey(token)).status).toBe(201);
	});

	it("answers 404 for a key id that does not exist", async () => {
		const { token } = await signIn();
		for (const id of [`key_${"0".repeat(32)}`, "not-a-key-id"]) {
			const res = await callGateway(`/v1/account/keys/${id}`, { key: token, method: "DELETE" });
			expect(res.status).toBe(404);
			expect(res.json().error).toMatchObject({ code: "not_found", param: "id" });
		}
	});
});

describe("Accounts: security", () => {
	it("does not accept a session token as an API key", async () => {
		const { token, payer } = await signIn();
		await adminCredit(payer, 10n * PACA);
		const res = await chat(token, await newModel());
		expect(res.status).toBe(401);
		expect(res.json().error.code).toBe("invalid_api_key");
	});

	it("does not accept an API key on the account routes", async () => {
		const { key } = await newKey();
		for (const [path, method] of [
			["/v1/account", "GET"],
			["/v1/account/keys", "GET"],
			["/v1/account/keys", "POST"],
		] as const) {
			const res = await callGateway(path, { key, method });
			expect(res.status).toBe(401);
			expect(res.json().error.code).toBe("unauthorized");
			expect(res.json().error.message).toContain("API keys cannot");
		}
	});

	it("answers 401 without a session, with a forged one, and with an expired one", async () => {
		const { token } = await signIn();
		const otherPayer = newWallet().address.toLowerCase().slice(2);
		const forged = token.replace(/^mdxs_[0-9a-f]{40}_/, `mdxs_${otherPayer}_`);
		const stretched = token.replace(/_(\d+)_/, (_, expiry) => `_${Number(expiry) + SESSION_TTL_MS}_`);
		const expired = (await issueSession(testEnv(), `0x${otherPayer}`, Date.now() - SESSION_TTL_MS - 1)).token;
		for (const key of [undefined, forged, stretched, expired, "mdxs_garbage"]) {
			const res = await callGateway("/v1/account/keys", key ? { key } : {});
			expect(res.status).toBe(401);
			expect(res.json().error).toMatchObject({ code: "unauthorized", type: "invalid_request_error", param: null });
		}
	});

	it("answers 404 to revoking another payer's key, which keeps working", async () => {
		const owner = await signIn();
		const intruder = await signIn();
		await adminCredit(owner.payer, 10n * PACA);
		const model = await newModel();
		const { id, key } = (await createKey(owner.token)).json();

		const res = await callGateway(`/v1/account/keys/${id}`, { key: intruder.token, method: "DELETE" });
		expect(res.status).toBe(404);
		expect((await chat(key, model)).status).toBe(200);
		expect((await ledgerFor(testEnv(), owner.payer).listKeys())[0]?.revokedAt).toBeNull();
	});

	it("leaves another payer's lease alone when asked to revoke its key: its grant goes back when idle", async () => {
		const owner = await signIn();
		const intruder = await signIn();
		await adminCredit(owner.payer, 10n * PACA);
		const model = await newModel({ upstreams: [standIn(":slow-answer")] });
		const { id, key } = (await createKey(owner.token)).json();
		// The owner's request holds its lease open in this isolate while the intruder tries.
		const running = openGateway("/v1/chat/completions", {
			key,
			json: { model, max_tokens: 2, messages: [{ role: "user", content: "hi" }] },
		});
		await new Promise((r) => setTimeout(r, 300));
		expect((await callGateway(`/v1/account/keys/${id}`, { key: intruder.token, method: "DELETE" })).status).toBe(404);
		const { response, done } = await running;
		expect(response.status).toBe(200);
		await response.text();
		await done();
		// The lease was returned at once (LEASE_IDLE_MS is 0 in tests), not left to the ledger's TTL.
		expect((await ledgerFor(testEnv(), owner.payer).account()).held).toBe(0n);
	});

	it("answers 404, not 500, for a model id with a malformed percent-encoding", async () => {
		for (const path of [
			"/v1/models/%E0%A4%A",
			"/v1/models/%E0%A4%A/stats",
			"/v1/markets/%E0%A4%A",
			"/v1/models/%E0%A4%A/usage",
		]) {
			const res = await callGateway(path);
			expect(res.status, path).toBe(404);
			expect(res.json().error.code, path).toBe("model_not_found");
		}
	});

	it("lists only the signed-in payer's keys", async () => {
		const a = await signIn();
		const b = await signIn();
		await createKey(a.token, { name: "a's key" });
		const list = (await callGateway("/v1/account/keys", { key: b.token })).json();
		expect(list.data).toEqual([]);
	});
});
