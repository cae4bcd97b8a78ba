// The CLI's pure parts, in-process: configuration precedence, argument parsing, Hugging Face
// answers, display of amounts, and the two shapes of stats (HTTP and live feed).
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parseAmount, parseSlippage } from "../../cli/commands/common.ts";
import { normalizeStats } from "../../cli/commands/models.ts";
import { metadataUri } from "../../cli/commands/tokenize.ts";
import { depositState } from "../../cli/commands/vault.ts";
import { loadWallet, resolveConfig } from "../../cli/config.ts";
import { CliError } from "../../cli/errors.ts";
import { defaultSymbol, parseRepoRef, readMetadataFile, toModelInfo } from "../../cli/hf.ts";
import { display } from "../../cli/output.ts";
import { tempDir } from "./helpers.ts";

describe("configuration", () => {
	test("flags beat the environment, which beats the local-stack defaults", () => {
		const defaults = resolveConfig({}, {}, "/work");
		expect(defaults).toMatchObject({
			gatewayUrl: "http://127.0.0.1:8787",
			rpcUrl: "http://127.0.0.1:8545",
			home: "/work/.modeldex",
			addressesFile: "/work/.modeldex/addresses.json",
			hfEndpoint: "https://huggingface.co",
			chainId: undefined,
		});
		const env = {
			MODELDEX_GATEWAY_URL: "https://api.modeldex.example/",
			MODELDEX_RPC_URL: "https://rpc.example",
			MODELDEX_CHAIN_ID: "8453",
			MODELDEX_HOME: "/state",
			MODELDEX_HF_ENDPOINT: "http://mirror.local",
		};
		const fromEnv = resolveConfig({}, env, "/work");
		expect(fromEnv).toMatchObject({
			gatewayUrl: "https://api.modeldex.example",
			rpcUrl: "https://rpc.example",
			chainId: 8453,
			addressesFile: "/state/addresses.json",
			hfEndpoint: "http://mirror.local",
		});
		expect(fromEnv.sources.gateway).toBe("env");
		const fromFlags = resolveConfig(
			{ gateway: "http://10.0.0.2:8787", addresses: "deploy/base.json", "chain-id": "1" },
			env,
			"/work",
		);
		expect(fromFlags).toMatchObject({ gatewayUrl: "http://10.0.0.2:8787", addressesFile: "/work/deploy/base.json", chainId: 1 });
		expect(fromFlags.sources).toMatchObject({ gateway: "flag", rpc: "env", addresses: "flag" });
	});

	test("bad URLs and chain ids are usage errors", () => {
		expect(() => resolveConfig({ gateway: "localhost:8787" }, {})).toThrow(/not an http\(s\) URL|not a URL/);
		expect(() => resolveConfig({ "chain-id": "abc" }, {})).toThrow(/not a positive integer/);
	});

	test("a development wallet is made once, private to the user, for local chains only", () => {
		const dir = tempDir("wallet");
		try {
			const config = resolveConfig({}, {}, dir.path);
			const first = loadWallet(config, {});
			expect(first.created).toBe(true);
			const file = join(dir.path, ".modeldex", "wallet.json");
			expect(statSync(file).mode & 0o777).toBe(0o600);
			expect(JSON.parse(readFileSync(file, "utf8")).address).toBe(first.account.address);
			expect(loadWallet(config, {}).account.address).toBe(first.account.address);

			const remote = resolveConfig({ rpc: "https://rpc.example", home: "remote-home" }, {}, dir.path);
			expect(() => loadWallet(remote, {})).toThrow(CliError);
			expect(existsSync(join(dir.path, "remote-home", "wallet.json"))).toBe(false);
			const key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
			expect(loadWallet(remote, { MODELDEX_PRIVATE_KEY: key }).account.address).toBe(
				"0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
			);
			expect(() => loadWallet(remote, { MODELDEX_PRIVATE_KEY: "0x1234" })).toThrow(/does not hold a private key/);
		} finally {
			dir.remove();
		}
	});

	test("a remote RPC does not sign with the development wallet unless the key is named", () => {
		const dir = tempDir("wallet-remote");
		try {
			const dev = loadWallet(resolveConfig({}, {}, dir.path), {});
			const file = join(dir.path, ".modeldex", "wallet.json");
			const remote = resolveConfig({ rpc: "https://rpc.example" }, {}, dir.path);
			let refused: unknown;
			try {
				loadWallet(remote, {});
			} catch (error) {
				refused = error;
			}
			expect(refused).toBeInstanceOf(CliError);
			expect(refused).toMatchObject({ code: "no_private_key" });
			expect((refused as CliError).message).toContain(`${file} is the development wallet for local chains`);
			expect((refused as CliError).hint).toContain("MODELDEX_PRIVATE_KEY=0x...");
			expect((refused as CliError).hint).toContain(`--key-file ${file}`);

			// Named explicitly, it is used: the file by --key-file, or any key by MODELDEX_PRIVATE_KEY.
			const named = resolveConfig({ rpc: "https://rpc.example", "key-file": file }, {}, dir.path);
			expect(loadWallet(named, {}).account.address).toBe(dev.account.address);
			const key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
			expect(loadWallet(remote, { MODELDEX_PRIVATE_KEY: key }).account.address).toBe(
				"0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
			);
		} finally {
			dir.remove();
		}
	});
});

describe("arguments", () => {
	test("amounts are decimal strings to base units, never floats", () => {
		expect(parseAmount("0.1", "x")).toBe(100_000_000_000_000_000n);
		expect(parseAmount("123456789.123456789123456789", "x")).toBe(123456789123456789123456789n);
		for (const bad of ["-1", "1e18", "1,000", "0", "0.0000000000000000001", "abc", ""]) {
			expect(() => parseAmount(bad, "x"), bad).toThrow(CliError);
		}
	});

	test("slippage is a percentage up to 50, in basis points", () => {
		expect(parseSlippage(undefined)).toBe(100n);
		expect(parseSlippage("0.5")).toBe(50n);
		expect(() => parseSlippage("60")).toThrow(/too high/);
	});
});

describe("Hugging Face", () => {
	test("repo references: org/name, @revision, and page URLs", () => {
		expect(parseRepoRef("Qwen/Qwen2.5-0.5B-Instruct")).toEqual({ repo: "Qwen/Qwen2.5-0.5B-Instruct", revision: null });
		expect(parseRepoRef("Qwen/Qwen2.5-0.5B-Instruct@v1.0")).toEqual({ repo: "Qwen/Qwen2.5-0.5B-Instruct", revision: "v1.0" });
		expect(parseRepoRef("https://huggingface.co/meta-llama/Llama-3.2-1B/tree/main")).toEqual({
			repo: "meta-llama/Llama-3.2-1B",
			revision: "main",
		});
		expect(() => parseRepoRef("gpt2")).toThrow(/not a Hugging Face model repo/);
		expect(defaultSymbol("meta-llama/Llama-3.1-8B-Instruct")).toBe("LLAMA318BIN");
	});

	test("license from cardData or the license: tag; the commit must be a full sha", () => {
		const wanted = { repo: "a/b", revision: null };
		const sha = "0123456789abcdef0123456789abcdef01234567";
		expect(toModelInfo({ id: "a/b", sha, cardData: { license: "mit" } }, wanted, "file", "f").license).toBe("mit");
		expect(toModelInfo({ id: "a/b", sha, tags: ["license:apache-2.0"] }, wanted, "file", "f").license).toBe("apache-2.0");
		expect(toModelInfo({ id: "a/b", sha, gated: "manual" }, wanted, "file", "f").gated).toBe(true);
		expect(() => toModelInfo({ id: "a/b", sha: "main" }, wanted, "file", "f")).toThrow(/no commit sha/);
		expect(() => toModelInfo({ id: "c/d", sha }, wanted, "file", "f")).toThrow(/describes 'c\/d'/);
		expect(() => toModelInfo({ id: "a/b", sha }, { repo: "a/b", revision: "f".repeat(40) }, "file", "f")).toThrow(
			/is for commit/,
		);
	});

	test("a --metadata file that is not there: the hint shows what to put in it, for this repo (offline, nothing to curl)", () => {
		const dir = tempDir("metadata");
		try {
			const file = join(dir.path, "model.json");
			let error: CliError | undefined;
			try {
				readMetadataFile(file, { repo: "org/model", revision: null });
			} catch (e) {
				error = e as CliError;
			}
			expect(error?.code).toBe("bad_metadata_file");
			expect(error?.message).toContain(`No metadata file at ${file}`);
			expect(error?.hint).toContain("api/models/org/model/revision/<rev>");
			expect(error?.hint).toContain('{"id": "org/model", "sha": "<the 40-hex commit>"');
		} finally {
			dir.remove();
		}
	});

	test("the metadata URI carries repo, commit, license and pipeline tag", () => {
		const uri = metadataUri({
			repo: "a/b",
			sha: "0123456789abcdef0123456789abcdef01234567",
			requestedRevision: null,
			license: "mit",
			pipelineTag: "text-generation",
			gated: false,
			source: "huggingface",
		});
		const [prefix, data = ""] = uri.split(",");
		expect(prefix).toBe("data:application/json;base64");
		expect(JSON.parse(Buffer.from(data, "base64").toString())).toEqual({
			source: "huggingface",
			repo: "a/b",
			revision: "0123456789abcdef0123456789abcdef01234567",
			license: "mit",
			pipeline_tag: "text-generation",
			url: "https://huggingface.co/a/b/tree/0123456789abcdef0123456789abcdef01234567",
		});
	});
});

describe("display", () => {
	test("amounts for people: at most 6 decimals, cut not rounded; tiny ones say so", () => {
		expect(display(1_500_000_000_000_000_000n)).toBe("1.5");
		expect(display(1_999_999_999_999_999_999n)).toBe("1.999999");
		expect(display(0n)).toBe("0");
		expect(display(1n)).toBe("<0.000001");
	});

	test("stats from the live feed (meter shape) and from HTTP (API shape) look the same", () => {
		const http = {
			model: "a/b",
			total: { requests: 2, errors: 0, prompt_tokens: 10, completion_tokens: 5, fees: "7" },
			last_minute: { requests: 1, errors: 0, prompt_tokens: 5, completion_tokens: 2, fees: "3" },
			updated_at: 1,
		};
		const live = {
			modelId: "a/b",
			total: { requests: 2, errors: 0, promptTokens: 10, completionTokens: 5, fees: "7" },
			lastMinute: { requests: 1, errors: 0, promptTokens: 5, completionTokens: 2, fees: "3" },
			updatedAt: 1,
		};
		expect(normalizeStats("a/b", live)).toEqual(http);
		expect(normalizeStats("a/b", http)).toEqual(http);
		expect(normalizeStats("a/b", { hello: 1 })).toBeNull();
	});
});

describe("deposit --wait", () => {
	const tx = "0xAb01";
	test("a deposit reversed by a reorg is not taken for one waiting for confirmations, nor hides its credited return", () => {
		const reversed = { tx_hash: "0xab01", credited: false, status: "reversed" as const };
		expect(depositState({ data: [reversed] }, tx)).toBe("reversed");
		// Mined again in another block, listed beside the reversed entry (before or after it).
		const back = { tx_hash: "0xab01", credited: false, status: "pending" as const };
		expect(depositState({ data: [reversed, back] }, tx)).toBe("pending");
		expect(depositState({ data: [reversed, { ...back, credited: true, status: "credited" }] }, tx)).toBe("credited");
		expect(depositState({ data: [{ tx_hash: "0xother", credited: true }] }, tx)).toBe("unseen");
		// A gateway from before `status`: credited or not.
		expect(depositState({ data: [{ tx_hash: "0xab01", credited: false }] }, tx)).toBe("pending");
		expect(depositState({ data: [{ tx_hash: "0xab01", credited: true }] }, tx)).toBe("credited");
	});
});
