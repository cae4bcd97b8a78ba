// The whole loop against the real local stack, started exactly as the README's quick
// start does (`npm start`, here with its own ports and state folder), driven with the
// `modeldex` CLI, the official `openai` client and the dashboard's WebSocket:
//
//   tokenize → buy up to Singularity (graduation into the real Uniswap V2 pool) →
//   deposit → SIWE login → key → openai (plain and streamed) → live counter moves →
//   indexer credited → settler settles → the holder claims the expected PACA.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import OpenAI from "openai";
import { type Address, createPublicClient, createTestClient, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { modelTokenAbi, revenueVaultAbi } from "../../lib/chain/abis.ts";

const ROOT = resolve(import.meta.dirname, "../..");
// anvil development accounts #3 (creator) and #4 (holder): test keys, never real money.
const CREATOR = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";
const HOLDER = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a";
const MODEL = "e2e-org/loop-model";

let home: string;
let stack: ChildProcess;
let ports: { gateway: number; rpc: number; standIn: number };
let log = "";

async function freePort(): Promise<number> {
	return new Promise((ok) => {
		const server = createServer();
		server.listen(0, "127.0.0.1", () => {
			const { port } = server.address() as { port: number };
			server.close(() => ok(port));
		});
	});
}

function env(extra: Record<string, string> = {}): Record<string, string> {
	return {
		...(process.env as Record<string, string>),
		MODELDEX_HOME: home,
		MODELDEX_PORT: String(ports.gateway),
		MODELDEX_RPC_PORT: String(ports.rpc),
		STAND_IN_PORT: String(ports.standIn),
		MODELDEX_EPOCH_SECONDS: "20",
		MODELDEX_GATEWAY_URL: `http://127.0.0.1:${ports.gateway}`,
		MODELDEX_RPC_URL: `http://127.0.0.1:${ports.rpc}`,
		MODELDEX_HF_ENDPOINT: "http://127.0.0.1:9",
		// The Workers' logs go to the test's buffer, shown when a step times out.
		MODELDEX_VERBOSE: "1",
		...extra,
	};
}

// biome-ignore lint/suspicious/noExplicitAny: the CLI's --json output, read field by field below
type CliJson = Record<string, any>;

/** Runs the CLI as a user would; `key` picks the wallet. */
function cli(args: string[], key?: string): Promise<{ code: number; stdout: string; stderr: string; json: () => CliJson }> {
	return new Promise((ok) => {
		const child = spawn("node", ["cli/modeldex.ts", ...args], {
			cwd: ROOT,
			env: env(key ? { MODELDEX_PRIVATE_KEY: key } : {}),
			stdio: ["ignore", "pipe", "pipe"],
		});
		let stdout = "";
		let stderr = "";
		child.stdout.on("data", (d) => {
			stdout += d;
		});
		child.stderr.on("data", (d) => {
			stderr += d;
		});
		child.on("exit", (code) => ok({ code: code ?? 1, stdout, stderr, json: () => JSON.parse(stdout) }));
	});
}

async function ok(args: string[], key?: string) {
	const result = await cli(args, key);
	if (result.code !== 0)
		throw new Error(`modeldex ${args.join(" ")} failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
	return result;
}

/** The stack's last log lines from the Workers and errors. */
function workerLines(): string {
	const lines = log.split("\n").filter((l) => /indexer|settler|error|Error/.test(l) && !l.includes("getaddrinfo"));
	return lines.slice(-40).join("\n");
}

/**
 * Polls `probe` until it returns something truthy. A probe that throws counts as "not
 * yet"; the stack exiting ends the wait at once (checked here, outside the probe, so
 * the error is not swallowed with the probe's).
 */
async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | null | false>): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		if (stack.exitCode !== null) {
			throw new Error(
				`npm start exited (${stack.exitCode}) while waiting for ${what}; the stack's last log lines:\n${workerLines()}`,
			);
		}
		const value = await probe().catch(() => undefined);
		if (value) return value;
		if (Date.now() > deadline) {
			throw new Error(`timed out waiting for ${what}; the stack's last log lines:\n${workerLines()}`);
		}
		await new Promise((r) => setTimeout(r, 500));
	}
}

beforeAll(async () => {
	home = mkdtempSync(join(tmpdir(), "modeldex-e2e-"));
	ports = {
		gateway: await freePort(),
		rpc: await freePort(),
		standIn: await freePort(),
	};
	stack = spawn("node", ["scripts/dev.ts", "--fresh"], { cwd: ROOT, env: env(), stdio: ["ignore", "pipe", "pipe"] });
	stack.stdout?.on("data", (d) => {
		log += d;
	});
	stack.stderr?.on("data", (d) => {
		log += d;
	});
	await until("npm start to say it is running", 150_000, async () => log.includes("Modeldex is running")).catch((err) => {
		throw new Error(`${(err as Error).message}\n${log}`);
	});
}, 180_000);

afterAll(async () => {
	if (stack?.exitCode === null) {
		const exited = new Promise((r) => stack.once("exit", r));
		stack.kill("SIGINT");
		await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
	}
	rmSync(home, { recursive: true, force: true });
});

describe("the Modeldex loop on the local stack", () => {
	test("tokenize → Singularity → deposit → key → metered calls → settlement → the holder's claim", async () => {
		const rpcUrl = `http://127.0.0.1:${ports.rpc}`;
		const api = `http://127.0.0.1:${ports.gateway}`;
		const chain = createPublicClient({ transport: http(rpcUrl) });
		const addresses = JSON.parse(readFileSync(join(home, "addresses.json"), "utf8"));
		const holder = privateKeyToAccount(HOLDER).address;
		const creator = privateKeyToAccount(CREATOR).address;

		// ── Tokenize (Hugging Face is offline here: metadata from a file) ──
		const metadata = join(home, "model.json");
		writeFileSync(
			metadata,
			JSON.stringify({
				id: MODEL,
				sha: "1111111111111111111111111111111111111111",
				pipeline_tag: "text-generation",
				cardData: { license: "mit" },
			}),
		);
		await ok(["faucet", "10"], CREATOR);
		const tokenized = (await ok(["tokenize", MODEL, "--metadata", metadata, "--symbol", "LOOP", "--json"], CREATOR)).json();
		const token = tokenized.token as Address;
		expect(token).toMatch(/^0x[0-9a-fA-F]{40}$/);

		// ── Buy the whole curve: Singularity graduates into Uniswap V2 ──
		await ok(["faucet", "7000000"], HOLDER);
		const bought = (await ok(["buy", token, "7000000", "--json"], HOLDER)).json();
		expect(bought.graduated?.pair).toMatch(/^0x[0-9a-fA-F]{40}$/);

		// ── The model, indexed from ModelTokenized, is routed by the operator ──
		const secrets = JSON.parse(readFileSync(join(home, "secrets.json"), "utf8"));
		await until("the indexer to list the model", 30_000, async () => (await fetch(`${api}/v1/models/${MODEL}`)).ok);
		const admin = { authorization: `Bearer ${secrets.adminToken}`, "content-type": "application/json" };
		const current = await (await fetch(`${api}/v1/admin/models/${MODEL}`, { headers: admin })).json();
		const put = await fetch(`${api}/v1/admin/models/${MODEL}`, {
			method: "PUT",
			headers: admin,
			body: JSON.stringify({
				display_name: current.display_name,
				input_price_per_m: current.input_price_per_m,
				output_price_per_m: current.output_price_per_m,
				token_address: current.token_address,
				hf_repo: current.hf_repo,
				hf_revision: current.hf_revision,
				upstreams: [{ kind: "openai", base_url: `http://127.0.0.1:${ports.standIn}/v1`, upstream_model: "stand-in" }],
			}),
		});
		expect(put.status).toBe(200);
		const market = await until("the indexer to see the graduation", 30_000, async () => {
			const m = await (await fetch(`${api}/v1/models/${MODEL}`)).json();
			return m.token?.imo_status === "graduated" ? m : null;
		});
		expect(market.token.pool_address?.toLowerCase()).toBe(bought.graduated.pair.toLowerCase());

		// ── A payer: SIWE login, a deposit credited by the indexer, an API key ──
		await ok(["faucet", "100"], HOLDER);
		await ok(["login"], HOLDER);
		await ok(["deposit", "50", "--wait"], HOLDER);
		const key = (await ok(["keys", "create", "--name", "e2e", "--json"], HOLDER)).json().key as string;
		expect(key).toMatch(/^mdx_/);

		// ── Live counter over the WebSocket, then calls with the official client ──
		const updates: number[] = [];
		const socket = new WebSocket(`ws://127.0.0.1:${ports.gateway}/v1/models/${MODEL}/live`);
		socket.addEventListener("message", (e) => updates.push(JSON.parse(String(e.data)).total.requests));
		await until("the live feed's first message", 10_000, async () => updates.length > 0);

		const openai = new OpenAI({ apiKey: key, baseURL: `${api}/v1` });
		const plain = await openai.chat.completions.create({
			model: MODEL,
			max_tokens: 6,
			messages: [{ role: "user", content: "Hello there" }],
		});
		expect(plain.choices[0]?.message.content).toBe("This reply comes from the Modeldex");
		const stream = await openai.chat.completions.create({
			model: MODEL,
			max_tokens: 6,
			stream: true,
			messages: [{ role: "user", content: "Again" }],
		});
		let streamed = "";
		for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? "";
		expect(streamed).toBe("This reply comes from the Modeldex");
		await until("the live counter to show both calls", 5_000, async () => updates.at(-1) === 2);
		socket.close();

		// ── The settler closes the epoch and settles the fees on chain ──
		const stats = await (await fetch(`${api}/v1/models/${MODEL}/stats`)).json();
		const fees = BigInt(stats.total.fees);
		expect(fees).toBeGreaterThan(0n);
		await until("the settler to settle the model's fees", 180_000, async () => {
			const settled = await chain.readContract({
				address: addresses.revenueVault,
				abi: revenueVaultAbi,
				functionName: "settledFees",
				args: [token],
			});
			return settled === fees;
		});

		// ── A week later the drip has paid out: the holder claims their share ──
		const testClient = createTestClient({ mode: "anvil", transport: http(rpcUrl) });
		await testClient.increaseTime({ seconds: 8 * 24 * 3600 });
		await testClient.mine({ blocks: 1 });
		const read = (fn: "balanceOf", who: Address) =>
			chain.readContract({ address: token, abi: modelTokenAbi, functionName: fn, args: [who] });
		const [holderShares, creatorShares] = await Promise.all([read("balanceOf", holder), read("balanceOf", creator)]);
		const claimed = BigInt((await ok(["claim", token, "--json"], HOLDER)).json().holder_revenue);
		// Holders get what the protocol (5 %) and creator (10 %) fees leave, pro rata among
		// non-excluded holders (here the holder and the creator's allocation).
		const expected = (((fees * 8_500n) / 10_000n) * holderShares) / (holderShares + creatorShares);
		expect(claimed).toBeGreaterThan(0n);
		expect(claimed).toBeLessThanOrEqual(expected);
		// Rounding, always in the protocol's favour: each accrual floors revenue-per-share to
		// 1e-18 PACA base units per share, at most `holderShares / 1e18` base units per accrual.
		expect(expected - claimed).toBeLessThanOrEqual((holderShares * 2n) / 10n ** 18n);
	}, 420_000);
});
