// The gateway commands against the real gateway under `wrangler dev` (its own D1, migrations
// applied, a model seeded through the admin API) and anvil for the model lookups by id:
// login (SIWE), keys create|list|revoke, models, stats and stats --watch over the WebSocket.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createTestClient, http, parseEther } from "viem";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startStandInUpstream } from "../../scripts/stand-in-upstream.ts";
import {
	type Chain,
	type CliResult,
	freePort,
	type GatewayProcess,
	type IndexerProcess,
	runCli,
	spawnCli,
	startChain,
	startGateway,
	startIndexer,
	tempDir,
	writeAddressesInto,
} from "./helpers.ts";

const MODEL = "cli-test/qwen-chat";
const UNTOKENIZED = "cli-test/plain";

let gateway: GatewayProcess;
let indexer: IndexerProcess | undefined;
let chain: Chain;
let upstream: Awaited<ReturnType<typeof startStandInUpstream>>;
let dir: { path: string; remove(): void };
let state: { path: string; remove(): void };
let env: Record<string, string>;
let apiKey: string;
let keyId: string;
let payer: string;

const cli = (args: string[], extraEnv: Record<string, string | undefined> = {}) =>
	runCli(args, { cwd: dir.path, env: { ...env, ...extraEnv } });

function expectOk(result: CliResult): void {
	if (result.code !== 0) throw new Error(`exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

async function chat(key: string): Promise<Response> {
	return fetch(`${gateway.url}/v1/chat/completions`, {
		method: "POST",
		headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
		body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hello there" }], max_tokens: 16 }),
	});
}

beforeAll(async () => {
	state = tempDir("gateway-state");
	dir = tempDir("gateway");
	[gateway, chain, upstream] = await Promise.all([startGateway(state.path), startChain(), startStandInUpstream()]);
	writeAddressesInto(dir.path, chain.addresses);
	env = { MODELDEX_GATEWAY_URL: gateway.url, MODELDEX_RPC_URL: chain.rpcUrl };

	// A tokenized model (tokenized offline with --metadata), registered at the gateway with its token.
	const meta = join(dir.path, "meta.json");
	writeFileSync(
		meta,
		JSON.stringify({
			id: "Qwen/Qwen2.5-0.5B-Instruct",
			sha: "7ae557604adf67be50417f59c2c2f167def9a775",
			cardData: { license: "apache-2.0" },
		}),
	);
	expectOk(await cli(["faucet", "1000"]));
	const tokenized = await cli(["tokenize", "Qwen/Qwen2.5-0.5B-Instruct", "--metadata", meta, "--json"]);
	expectOk(tokenized);
	const token = tokenized.json<{ token: string }>().token;
	for (const [id, tokenAddress] of [
		[MODEL, token],
		[UNTOKENIZED, null],
	] as const) {
		const put = await gateway.admin("PUT", `/v1/admin/models/${id}`, {
			display_name: id === MODEL ? "Qwen 2.5 0.5B (stand-in)" : "Plain model",
			input_price_per_m: parseEther("0.2").toString(),
			output_price_per_m: parseEther("0.6").toString(),
			hf_repo: "Qwen/Qwen2.5-0.5B-Instruct",
			hf_revision: "7ae557604adf67be50417f59c2c2f167def9a775",
			token_address: tokenAddress,
			upstreams: [{ kind: "openai", base_url: upstream.url, upstream_model: "stand-in" }],
		});
		if (put.status !== 200) throw new Error(`seeding ${id}: ${put.status} ${JSON.stringify(put.body)}`);
	}
});

afterAll(async () => {
	indexer?.stop();
	gateway?.stop();
	chain?.stop();
	await upstream?.close();
	dir?.remove();
	state?.remove();
});

describe("before signing in", () => {
	test("models lists the catalogue with prices and token", async () => {
		const human = await cli(["models"]);
		expectOk(human);
		expect(human.stdout).toMatch(
			new RegExp(`${MODEL}\\s+Qwen 2.5 0.5B \\(stand-in\\)\\s+0.2\\s+0.6\\s+\\S+\\s+0x[0-9a-fA-F]{40}`),
		);
		expect(human.stdout).toMatch(new RegExp(`${UNTOKENIZED}.*not tokenized`));
		const json = await cli(["models", "--json"]);
		expect(
			json
				.json<Array<{ id: string }>>()
				.map((m) => m.id)
				.sort(),
		).toEqual([MODEL, UNTOKENIZED].sort());
	});

	test("keys without a session: says to run `modeldex login`", async () => {
		const result = await cli(["keys", "list", "--json"]);
		expect(result.code).toBe(1);
		expect(result.json<{ error: { code: string; hint: string } }>().error).toMatchObject({
			code: "not_logged_in",
			hint: expect.stringContaining("modeldex login"),
		});
	});

	test("an unreachable gateway: says how to start or point at one", async () => {
		const result = await cli(["models"], { MODELDEX_GATEWAY_URL: `http://127.0.0.1:${await freePort()}` });
		expect(result.code).toBe(1);
		expect(result.stderr).toContain("Cannot reach the Modeldex gateway");
		expect(result.stderr).toContain("--gateway");
	});

	test("a gateway whose answer breaks off midway: says so and to try again, not 'a bug'", async () => {
		// Headers and half of the promised body, then the connection is dropped.
		const broken = createServer((_req, res) => {
			res.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
			res.write('{"object":"list","data":[');
			setTimeout(() => res.destroy(), 50);
		});
		await new Promise<void>((resolve) => broken.listen(0, "127.0.0.1", resolve));
		try {
			const url = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
			const result = await cli(["models", "--json"], { MODELDEX_GATEWAY_URL: url });
			expect(result.code).toBe(1);
			const { error } = result.json<{ error: { code: string; message: string; hint: string } }>();
			expect(error.code).toBe("gateway_answer_lost");
			expect(error.message).toBe(`The gateway at ${url} stopped answering GET /v1/models midway.`);
			expect(error.hint).toContain("Try again");
		} finally {
			broken.close();
		}
	});
});

describe("login and keys", () => {
	test("login signs in with the wallet key (SIWE) and keeps the session per gateway", async () => {
		const result = await cli(["login", "--json"]);
		expectOk(result);
		const body = result.json<{ payer: string; expires_at: number; session_file: string }>();
		const wallet = (await cli(["config", "--json"])).json<{ wallet: { address: string } }>().wallet.address;
		expect(body.payer).toBe(wallet.toLowerCase());
		payer = body.payer;
		expect(body.expires_at).toBeGreaterThan(Date.now() / 1000);
		const stored = JSON.parse(readFileSync(body.session_file, "utf8"));
		expect(stored.sessions[gateway.url].token).toMatch(/^mdxs_/);
	});

	test("keys create shows the key once; list shows it without the key", async () => {
		const created = await cli(["keys", "create", "--name", "ci", "--spend-cap", "5", "--model", MODEL, "--json"]);
		expectOk(created);
		const key = created.json<{ id: string; key: string; spend_cap: string; allowed_models: string[] }>();
		expect(key.key).toMatch(/^mdx_[0-9a-f]{40}_/);
		expect(key.spend_cap).toBe(parseEther("5").toString());
		expect(key.allowed_models).toEqual([MODEL]);
		apiKey = key.key;
		keyId = key.id;

		const human = await cli(["keys", "create"]);
		expectOk(human);
		expect(human.stdout).toContain("Store it now: it is not shown again");

		const list = await cli(["keys", "list", "--json"]);
		expectOk(list);
		const keys = list.json<Array<{ id: string; key?: string }>>();
		expect(keys.map((k) => k.id)).toContain(keyId);
		expect(keys.every((k) => k.key === undefined)).toBe(true);
		const table = await cli(["keys", "list"]);
		expect(table.stdout).toMatch(new RegExp(`${keyId}\\s+ci\\s+mdx_\\S+…\\s+5 PACA\\s+0 PACA\\s+${MODEL}\\s+active`));
	});

	test("balance shows the API credit once signed in", async () => {
		await gateway.admin("POST", "/v1/admin/credits", {
			payer,
			amount: parseEther("3").toString(),
			idempotency_key: "cli-balance",
		});
		const result = await cli(["balance", "--json"]);
		expectOk(result);
		expect(result.json<{ credit: { available: string } }>().credit.available).toBe(parseEther("3").toString());
	});

	test("deposit --wait follows the credit through the gateway; without an indexer it says the PACA is safe", async () => {
		// No indexer runs in this test, so the credit never comes: the wait ends with what to do.
		const result = await cli(["deposit", "1", "--wait", "--wait-timeout", "1", "--json"]);
		expect(result.code).toBe(1);
		const error = result.json<{ error: { code: string; message: string; hint: string } }>().error;
		expect(error.code).toBe("credit_timeout");
		expect(error.message).toMatch(/on chain \(0x[0-9a-f]{64}\)/);
		expect(error.hint).toContain("modeldex balance");
		expect(result.stderr).toContain("Waiting for the gateway to credit the deposit");
	});

	test("withdraw: more than the credit is refused, and so is credit an admin granted (no PACA backs it)", async () => {
		const tooMuch = await cli(["withdraw", "5", "--json"]);
		expect(tooMuch.code).toBe(1);
		expect(tooMuch.json<{ error: { code: string; hint: string } }>().error).toMatchObject({
			code: "insufficient_quota",
			hint: expect.stringContaining("modeldex balance"),
		});
		// The only credit so far is the admin's 3 PACA: spendable, not withdrawable.
		const unbacked = await cli(["withdraw", "1", "--json"]);
		expect(unbacked.code).toBe(1);
		expect(unbacked.json<{ error: { code: string; message: string } }>().error).toMatchObject({
			code: "insufficient_quota",
			message: expect.stringContaining("0 base units are available to withdraw"),
		});
		const credit = (await cli(["balance", "--json"])).json<{ credit: { available: string; withdrawable: string } }>().credit;
		expect(credit.withdrawable).toBe("0");
		expect(BigInt(credit.available)).toBeGreaterThan(0n);
		expect((await cli(["balance"])).stdout).toContain("0 PACA withdrawable, the rest was granted, not deposited");
	});

	test("withdraw against a gateway without withdrawals: says who pays them and the --settler way", async () => {
		const old = createServer((_req, res) => {
			res.writeHead(404, { "content-type": "text/plain" });
			res.end("404 Not Found");
		});
		await new Promise<void>((resolve) => old.listen(0, "127.0.0.1", resolve));
		const oldUrl = `http://127.0.0.1:${(old.address() as AddressInfo).port}`;
		const other = tempDir("old-gateway");
		try {
			mkdirSync(join(other.path, ".modeldex"));
			const session = { token: "mdxs_x", payer, expires_at: Math.floor(Date.now() / 1000) + 3600 };
			writeFileSync(join(other.path, ".modeldex", "session.json"), JSON.stringify({ sessions: { [oldUrl]: session } }));
			const result = await runCli(["withdraw", "1", "--json"], { cwd: other.path, env: { MODELDEX_GATEWAY_URL: oldUrl } });
			expect(result.code).toBe(1);
			const error = result.json<{ error: { code: string; hint: string } }>().error;
			expect(error.code).toBe("withdrawals_unsupported");
			expect(error.hint).toContain("--settler");
		} finally {
			other.remove();
			await new Promise((resolve) => old.close(resolve));
		}
	});

	test("revoke: the key stops working; an unknown id points at keys list", async () => {
		const throwaway = (await cli(["keys", "create", "--name", "throwaway", "--json"])).json<{ id: string; key: string }>();
		const revoked = await cli(["keys", "revoke", throwaway.id, "--json"]);
		expectOk(revoked);
		expect(revoked.json<{ revoked_at: number | null }>().revoked_at).not.toBeNull();
		expect((await chat(throwaway.key)).status).toBe(401);

		const unknown = await cli(["keys", "revoke", "key_00000000000000000000000000000000"]);
		expect(unknown.code).toBe(1);
		expect(unknown.stderr).toContain("modeldex keys list");
	});

	test("a broken session: the gateway's 401 comes with 'login again'", async () => {
		const other = tempDir("bad-session");
		try {
			const file = join(other.path, ".modeldex", "session.json");
			const session = {
				sessions: { [gateway.url]: { token: "mdxs_bad", payer, expires_at: Math.floor(Date.now() / 1000) + 3600 } },
			};
			writeAddressesInto(other.path, chain.addresses);
			writeFileSync(file, JSON.stringify(session));
			const result = await runCli(["keys", "list"], { cwd: other.path, env });
			expect(result.code).toBe(1);
			expect(result.stderr).toContain("Invalid session token");
			expect(result.stderr).toContain("modeldex login");
		} finally {
			other.remove();
		}
	});
});

describe("deposit, credited by the indexer", () => {
	test("deposit --wait shows progress until the indexer has credited it, then the new credit", async () => {
		indexer = await startIndexer(state.path, chain);
		const before = BigInt((await cli(["balance", "--json"])).json<{ credit: { available: string } }>().credit.available);
		const deposit = spawnCli(["deposit", "2", "--wait", "--json"], { cwd: dir.path, env });
		const testClient = createTestClient({ mode: "anvil", transport: http(chain.rpcUrl) });
		try {
			// The cron does not fire under wrangler dev: bury the deposit under a block and run the indexer, until the CLI is done.
			const deadline = Date.now() + 45_000;
			while (deposit.child.exitCode === null && Date.now() < deadline) {
				await testClient.mine({ blocks: 1 });
				await indexer.run();
				await new Promise((r) => setTimeout(r, 300));
			}
			expect(await deposit.exited).toBe(0);
			const body = JSON.parse(deposit.stdout) as { credited: boolean; credit: { available: string } };
			expect(body.credited).toBe(true);
			// The earlier deposit (1 PACA, from the --wait timeout test) is credited by the same indexer runs.
			expect(BigInt(body.credit.available) - before).toBeGreaterThanOrEqual(parseEther("2"));
			expect(deposit.stderr).toMatch(/✔ Waiting for the gateway to credit the deposit — [\d.]+ PACA available/);
		} finally {
			deposit.child.kill("SIGKILL");
		}
	}, 90_000);

	test("withdraw: within the deposited credit the amount is locked and listed", async () => {
		const before = BigInt((await cli(["balance", "--json"])).json<{ credit: { available: string } }>().credit.available);
		const result = await cli(["withdraw", "1", "--json"]);
		expectOk(result);
		const withdrawal = result.json<{ withdrawal: { id: string; status: string; amount: string } }>().withdrawal;
		expect(withdrawal).toMatchObject({ status: "requested", amount: parseEther("1").toString() });
		const after = BigInt((await cli(["balance", "--json"])).json<{ credit: { available: string } }>().credit.available);
		expect(before - after).toBe(parseEther("1"));

		const list = await cli(["withdraw", "--list", "--json"]);
		expect(list.json<Array<{ id: string }>>().map((w) => w.id)).toContain(withdrawal.id);
		const table = await cli(["withdraw", "--list"]);
		expect(table.stdout).toMatch(/ID\s+AMOUNT\s+STATUS/);
		expect(table.stdout).toMatch(/1 PACA\s+requested/);
	});

	test("withdraw --wait: without a settler running, says the amount stays locked for it", async () => {
		const result = await cli(["withdraw", "0.5", "--wait", "--wait-timeout", "1"]);
		expect(result.code).toBe(1);
		expect(result.stderr).toContain("Waiting for the settler to pay it");
		expect(result.stderr).toMatch(/is requested but was not paid within 1s/);
		expect(result.stderr).toContain("modeldex withdraw --list");
	});
});

describe("model ids resolve through the gateway", () => {
	test("buy <org/name>: the gateway's token address is used", async () => {
		const result = await cli(["buy", MODEL, "5", "--json"]);
		expectOk(result);
		expect(result.json<{ model: string; venue: string }>()).toMatchObject({ model: MODEL, venue: "curve" });
	});

	test("a model without a token, and an unknown one: what to do next", async () => {
		const plain = await cli(["buy", UNTOKENIZED, "5"]);
		expect(plain.code).toBe(1);
		expect(plain.stderr).toContain("has no token on chain yet");
		expect(plain.stderr).toContain("modeldex tokenize Qwen/Qwen2.5-0.5B-Instruct@7ae557604adf67be50417f59c2c2f167def9a775");

		const missing = await cli(["claim", "cli-test/missing"]);
		expect(missing.code).toBe(1);
		expect(missing.stderr).toContain("does not exist");
		expect(missing.stderr).toContain("modeldex models");
	});
});

describe("stats", () => {
	test("stats prints the model's counters; --json gives the API's shape", async () => {
		await gateway.admin("POST", "/v1/admin/credits", {
			payer,
			amount: parseEther("10").toString(),
			idempotency_key: "cli-stats",
		});
		expect((await chat(apiKey)).status).toBe(200);
		// The gateway sends finished requests to the meter in batches (every 200 ms).
		let stats = { model: "", total: { requests: 0 } };
		for (const deadline = Date.now() + 5_000; stats.total.requests < 1 && Date.now() < deadline; ) {
			const result = await cli(["stats", MODEL, "--json"]);
			expectOk(result);
			stats = result.json<{ model: string; total: { requests: number } }>();
		}
		expect(stats.model).toBe(MODEL);
		expect(stats.total.requests).toBeGreaterThanOrEqual(1);
		const human = await cli(["stats", MODEL]);
		expect(human.stdout).toMatch(/requests\s+\d+\s+\d+/);
		expect(human.stdout).toMatch(/fees\s+[\d.<]+ PACA/);
	});

	test("stats --watch --json: one line per live update; Ctrl-C stops it cleanly", async () => {
		const watch = spawnCli(["stats", MODEL, "--watch", "--json"], { cwd: dir.path, env });
		try {
			await watch.waitFor((out) => out.split("\n").filter(Boolean).length >= 2); // the HTTP snapshot, then the socket's
			const lines = () =>
				watch.stdout
					.split("\n")
					.filter(Boolean)
					.map((l) => JSON.parse(l) as { total: { requests: number } });
			const before = Math.max(...lines().map((l) => l.total.requests));
			expect((await chat(apiKey)).status).toBe(200);
			await watch.waitFor(() => lines().some((l) => l.total.requests > before));
			watch.child.kill("SIGINT");
			expect(await watch.exited).toBe(0);
		} finally {
			watch.child.kill("SIGKILL");
		}
	});

	test("stats --watch asks for fresh numbers when no usage arrives, so the last minute's rates move on", async () => {
		const watch = spawnCli(["stats", MODEL, "--watch", "--json"], {
			cwd: dir.path,
			env: { ...env, MODELDEX_WATCH_REFRESH_MS: "200" },
		});
		try {
			// The HTTP snapshot and the socket's first update, then the answers to its pings: no request is made.
			await watch.waitFor((out) => out.split("\n").filter(Boolean).length >= 5);
			const times = watch.stdout
				.split("\n")
				.filter(Boolean)
				.map((l) => (JSON.parse(l) as { updated_at: number }).updated_at);
			expect(new Set(times.slice(1)).size).toBeGreaterThanOrEqual(3);
			watch.child.kill("SIGINT");
			expect(await watch.exited).toBe(0);
		} finally {
			watch.child.kill("SIGKILL");
		}
	});

	test("stats --watch for people: the table with its live state; Ctrl-C stops it", async () => {
		const watch = spawnCli(["stats", MODEL, "--watch"], { cwd: dir.path, env });
		try {
			await watch.waitFor((out) => out.includes("● live"));
			expect(watch.stdout).toMatch(/ALL TIME\s+LAST MINUTE/);
			watch.child.kill("SIGINT");
			expect(await watch.exited).toBe(0);
		} finally {
			watch.child.kill("SIGKILL");
		}
	});

	test("stats --watch reconnects by itself when the gateway restarts", async () => {
		const watch = spawnCli(["stats", MODEL, "--watch", "--json"], { cwd: dir.path, env });
		try {
			await watch.waitFor((out) => out.split("\n").filter(Boolean).length >= 2);
			const requests = () =>
				watch.stdout
					.split("\n")
					.filter(Boolean)
					.map((l) => (JSON.parse(l) as { total: { requests: number } }).total.requests);
			const before = Math.max(...requests());
			await gateway.stopped();
			gateway = await startGateway(state.path, { port: gateway.port });
			expect((await chat(apiKey)).status).toBe(200);
			await watch.waitFor(() => requests().some((n) => n > before), 30_000);
			watch.child.kill("SIGINT");
			expect(await watch.exited).toBe(0);
		} finally {
			watch.child.kill("SIGKILL");
		}
	}, 90_000);

	test("an upstream without usage: counted under wrangler dev too, non-stream and stream, on the isolate's first count", async () => {
		// The tokenizer loads on first use (a dynamic import, bundled by wrangler's esbuild here).
		const counted = "cli-test/counted";
		const put = await gateway.admin("PUT", `/v1/admin/models/${counted}`, {
			display_name: "Counted (stand-in without usage)",
			input_price_per_m: parseEther("0.2").toString(),
			output_price_per_m: parseEther("0.6").toString(),
			upstreams: [{ kind: "openai", base_url: upstream.url, upstream_model: "stand-in:no-usage" }],
		});
		expect(put.status).toBe(200);
		const created = await cli(["keys", "create", "--name", "counted", "--json"]);
		expectOk(created);
		const { key } = created.json<{ key: string }>();
		for (const stream of [false, true]) {
			const res = await fetch(`${gateway.url}/v1/chat/completions`, {
				method: "POST",
				headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
				body: JSON.stringify({ model: counted, stream, messages: [{ role: "user", content: "hello there" }], max_tokens: 8 }),
			});
			expect(res.status).toBe(200);
			const text = await res.text();
			if (stream) expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true);
			const gen = await fetch(`${gateway.url}/v1/generations/${res.headers.get("x-request-id")}`, {
				headers: { authorization: `Bearer ${key}` },
			});
			expect(gen.status).toBe(200);
			const record = (await gen.json()) as {
				usage_source: string;
				prompt_tokens: number;
				completion_tokens: number;
				cost: string;
			};
			expect(record.usage_source).toBe("counted");
			expect(record.prompt_tokens).toBeGreaterThan(0);
			expect(record.completion_tokens).toBeGreaterThan(0);
			expect(BigInt(record.cost)).toBeGreaterThan(0n);
		}
	});

	test("stats of an unknown model: 404 with the way to the ids", async () => {
		const result = await cli(["stats", "cli-test/missing", "--watch"]);
		expect(result.code).toBe(1);
		expect(result.stderr).toContain("modeldex models");
	});
});
