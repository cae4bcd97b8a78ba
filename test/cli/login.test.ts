// `modeldex login` against a stand-in gateway (a plain HTTP server) that records what the CLI
// asks it: the chain id the Sign-In with Ethereum message is signed for.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { parseSiweMessage } from "viem/siwe";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runCli, tempDir } from "./helpers.ts";

// anvil's account #5: any key will do, the stand-in checks no signature.
const KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";

let server: Server;
let gatewayUrl: string;
let gatewayChain: number | null;
let signed: string[];
let dir: { path: string; remove(): void };

beforeAll(async () => {
	dir = tempDir("login");
	server = createServer((req, res) => {
		const json = (status: number, body: unknown) => {
			res.writeHead(status, { "content-type": "application/json" });
			res.end(JSON.stringify(body));
		};
		if (req.url === "/v1/chain") return json(200, { object: "chain", chain_id: gatewayChain });
		if (req.url === "/v1/auth/nonce") return json(200, { nonce: "0123456789abcdef0123456789abcdef", expires_at: 0 });
		if (req.url === "/v1/auth/verify") {
			let body = "";
			req.on("data", (d) => (body += d));
			req.on("end", () => {
				signed.push((JSON.parse(body) as { message: string }).message);
				json(200, { token: `mdxs_${"ab".repeat(20)}_1_${"a".repeat(43)}`, payer: "0x", expires_at: 4_000_000_000 });
			});
			return;
		}
		json(404, { error: { message: "Unknown path", type: "invalid_request_error", code: "not_found", param: null } });
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	gatewayUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
	server?.close();
	dir?.remove();
});

const login = (extra: string[] = []) =>
	runCli(["login", "--json", ...extra], {
		cwd: dir.path,
		// No addresses file and an RPC that answers nothing: only the gateway can say the chain.
		env: { MODELDEX_GATEWAY_URL: gatewayUrl, MODELDEX_RPC_URL: "http://127.0.0.1:9", MODELDEX_PRIVATE_KEY: KEY },
	});

describe("modeldex login", () => {
	test("signs the message for the chain the gateway names (GET /v1/chain)", async () => {
		gatewayChain = 8453;
		signed = [];
		const result = await login();
		expect(result.code, result.stdout + result.stderr).toBe(0);
		expect(signed).toHaveLength(1);
		expect(parseSiweMessage(signed[0] ?? "").chainId).toBe(8453);
	});

	test("refuses, signing nothing, when --chain-id names another chain than the gateway's", async () => {
		gatewayChain = 8453;
		signed = [];
		const result = await login(["--chain-id", "1"]);
		expect(result.code).toBe(1);
		const { error } = result.json<{ error: { code: string; message: string; hint: string } }>();
		expect(error.code).toBe("wrong_chain");
		expect(error.message).toContain("runs on chain id 8453, not chain id 1 (--chain-id)");
		expect(signed).toEqual([]);
	});

	test("signs for the chain id given when the gateway names none", async () => {
		gatewayChain = null;
		signed = [];
		const result = await login(["--chain-id", "10"]);
		expect(result.code, result.stdout + result.stderr).toBe(0);
		expect(parseSiweMessage(signed[0] ?? "").chainId).toBe(10);
	});
});
