// The chain commands against a real anvil with the contracts deployed, as a user runs them:
// a fresh directory, a development wallet made on first use, the local faucet, then
// tokenize (via a Hugging Face stand-in), buy, sell, deposit, claim, withdraw, and the pool
// after Singularity.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
	type Address,
	createPublicClient,
	createTestClient,
	createWalletClient,
	http,
	keccak256,
	parseEther,
	stringToHex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { modelFactoryAbi, modelTokenAbi, revenueVaultAbi } from "../../lib/chain/abis.ts";
import { startRpcFaults } from "../node/rpc-faults.ts";
import {
	anvilKey,
	type Chain,
	type CliResult,
	freePort,
	type HfServer,
	runCli,
	startChain,
	startHfServer,
	startRpcThatGoesAway,
	tempDir,
	writeAddressesInto,
} from "./helpers.ts";

let chain: Chain;
let hf: HfServer;
let dir: { path: string; remove(): void };
let env: Record<string, string>;
let token: Address;

const cli = (args: string[], extraEnv: Record<string, string | undefined> = {}) =>
	runCli(args, { cwd: dir.path, env: { ...env, ...extraEnv } });

function expectOk(result: CliResult): void {
	if (result.code !== 0) throw new Error(`exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

beforeAll(async () => {
	[chain, hf] = await Promise.all([startChain(), startHfServer()]);
	dir = tempDir("chain");
	writeAddressesInto(dir.path, chain.addresses);
	env = {
		MODELDEX_RPC_URL: chain.rpcUrl,
		MODELDEX_HF_ENDPOINT: hf.url,
		MODELDEX_GATEWAY_URL: `http://127.0.0.1:${await freePort()}`,
	};
});

afterAll(async () => {
	chain?.stop();
	await hf?.close();
	dir?.remove();
});

describe("wallet and faucet", () => {
	test("first use makes a development wallet; the faucet funds it with ETH and PACA", async () => {
		const result = await cli(["faucet", "10000", "--json"]);
		expectOk(result);
		expect(result.stderr).toMatch(/Created a development wallet 0x[0-9a-fA-F]{40}/);
		const body = result.json<{ address: string; minted: string; paca: string; eth_topped_up: boolean }>();
		expect(body.minted).toBe(parseEther("10000").toString());
		expect(body.paca).toBe(parseEther("10000").toString());
		expect(body.eth_topped_up).toBe(true);
		const wallet = await cli(["config", "--json"]);
		expect(wallet.json<{ wallet: { address: string } }>().wallet.address).toBe(body.address);
	});

	test("a bad amount is a usage error (exit 2) that shows how to write one", async () => {
		const result = await cli(["deposit", "1e18"]);
		expect(result.code).toBe(2);
		expect(result.stderr).toContain("'1e18' is not an amount");
		expect(result.stderr).toContain("plain decimal number");
	});
});

describe("tokenize", () => {
	test("reads commit, license and pipeline tag from the Hugging Face API and tokenizes in one transaction", async () => {
		const result = await cli(["tokenize", "Qwen/Qwen2.5-0.5B-Instruct@main", "--json"]);
		expectOk(result);
		const body = result.json<{
			token: Address;
			sale: Address;
			huggingface: { revision: string; license: string; pipeline_tag: string; requested_revision: string };
			params: { symbol: string; metadataURI: string };
		}>();
		expect(body.huggingface).toMatchObject({
			revision: "7ae557604adf67be50417f59c2c2f167def9a775",
			requested_revision: "main",
			license: "apache-2.0",
			pipeline_tag: "text-generation",
		});
		expect(body.params.symbol).toBe("QWEN2505BIN");
		const meta = JSON.parse(Buffer.from(body.params.metadataURI.split(",")[1] ?? "", "base64").toString());
		expect(meta).toMatchObject({ license: "apache-2.0", pipeline_tag: "text-generation", revision: body.huggingface.revision });
		expect(hf.requests.map((r) => r.path)).toContain("/api/models/Qwen/Qwen2.5-0.5B-Instruct/revision/main");
		// progress went to stderr, with the transaction
		expect(result.stderr).toMatch(/✔ Tokenizing Qwen\/Qwen2.5-0.5B-Instruct@7ae557604adf — block \d+, tx 0x[0-9a-f]{64}/);
		token = body.token;
		expect(body.sale).toMatch(/^0x[0-9a-fA-F]{40}$/);
	});

	test("the same commit again: says it is tokenized and how to buy it", async () => {
		const result = await cli(["tokenize", "Qwen/Qwen2.5-0.5B-Instruct"]);
		expect(result.code).toBe(1);
		expect(result.stderr).toContain(`already tokenized as ${token}`);
		expect(result.stderr).toContain(`modeldex buy ${token} <amount>`);
	});

	test("offline: a clear error naming --metadata; with --metadata it works without the API", async () => {
		const offline = await cli(["tokenize", "sentence-transformers/all-MiniLM-L6-v2", "--json"], {
			MODELDEX_HF_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
		});
		expect(offline.code).toBe(1);
		const error = offline.json<{ error: { code: string; message: string; hint: string } }>().error;
		expect(error.code).toBe("huggingface_unreachable");
		expect(error.hint).toContain("--metadata <file>");

		const file = join(dir.path, "minilm.json");
		writeFileSync(
			file,
			JSON.stringify({
				id: "sentence-transformers/all-MiniLM-L6-v2",
				sha: "c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
				pipeline_tag: "sentence-similarity",
				cardData: { license: "apache-2.0" },
			}),
		);
		const before = hf.requests.length;
		const result = await cli(
			["tokenize", "sentence-transformers/all-MiniLM-L6-v2", "--metadata", file, "--symbol", "MINILM", "--json"],
			{
				MODELDEX_HF_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
			},
		);
		expectOk(result);
		expect(result.json<{ huggingface: { source: string; pipeline_tag: string } }>().huggingface).toMatchObject({
			source: "file",
			pipeline_tag: "sentence-similarity",
		});
		expect(hf.requests.length).toBe(before);
	});

	test("unknown revision, private repo, no license: errors and warnings that say what to do", async () => {
		const missing = await cli(["tokenize", "Qwen/Qwen2.5-0.5B-Instruct@nope", "--dry-run"]);
		expect(missing.code).toBe(1);
		expect(missing.stderr).toContain("no revision 'nope'");

		const privateRepo = await cli(["tokenize", "someone/private-model", "--dry-run"]);
		expect(privateRepo.code).toBe(1);
		expect(privateRepo.stderr).toContain("private or gated");
		expect(privateRepo.stderr).toContain("HF_TOKEN");
		const withToken = await cli(["tokenize", "someone/private-model", "--dry-run"], { HF_TOKEN: "hf_test" });
		expect(withToken.stderr).toContain("has no model 'someone/private-model'");
		expect(hf.requests.at(-1)?.authorization).toBe("Bearer hf_test");

		const unlicensed = await cli(["tokenize", "someone/unlicensed-model", "--dry-run", "--json"]);
		expectOk(unlicensed);
		expect(unlicensed.stderr).toContain("declares no license");
		expect(unlicensed.json<{ dry_run: boolean }>().dry_run).toBe(true);

		const gated = await cli(["tokenize", "meta-llama/Llama-3.2-1B", "--dry-run"]);
		expectOk(gated);
		expect(gated.stderr).toContain("gated on Hugging Face");
		expect(gated.stdout).toContain("llama3.2");

		const notRepo = await cli(["tokenize", "just-a-name"]);
		expect(notRepo.code).toBe(2);
		expect(notRepo.stderr).toContain("<org>/<name>[@revision]");
	});
});

describe("trading on the IMO curve", () => {
	test("buy by token address: approves, buys with a minimum out, reports what it got", async () => {
		const result = await cli(["buy", token, "100", "--json"]);
		expectOk(result);
		const body = result.json<{ venue: string; paid: string; fee: string; received: string; min_out: string }>();
		expect(body.venue).toBe("curve");
		expect(BigInt(body.paid)).toBe(parseEther("100"));
		expect(BigInt(body.received)).toBeGreaterThan(0n);
		expect(BigInt(body.received)).toBeGreaterThanOrEqual(BigInt(body.min_out));
		expect(result.stderr).toContain("Approving 100 PACA for the sale");
		expect(result.stderr).toContain("Buying QWEN2505BIN with 100 PACA on the IMO curve");
	});

	test("sell part back; selling more than the wallet holds says so", async () => {
		const human = await cli(["sell", token, "1000"]);
		expectOk(human);
		expect(human.stdout).toMatch(/^Sold 1000 QWEN2505BIN for [\d.]+ PACA \(fee [\d.]+ PACA\) on the IMO curve\.$/m);

		const tooMuch = await cli(["sell", token, "999999999", "--json"]);
		expect(tooMuch.code).toBe(1);
		expect(tooMuch.json<{ error: { code: string } }>().error.code).toBe("insufficient_tokens");
	});

	test("an impossible minimum out is refused before anything is signed", async () => {
		const wallet = (await cli(["config", "--json"])).json<{ wallet: { address: Address } }>().wallet.address;
		const client = createPublicClient({ transport: http(chain.rpcUrl) });
		const sent = await client.getTransactionCount({ address: wallet });
		const result = await cli(["buy", token, "1", "--min-out", "999999999"]);
		expect(result.code).toBe(1);
		expect(result.stderr).toContain("The price moved");
		expect(result.stderr).toContain("--slippage");
		// Not even the approval: it would have cost gas for a trade that could not happen.
		expect(await client.getTransactionCount({ address: wallet })).toBe(sent);
	});

	test("not enough PACA: says how much, and where the local faucet is", async () => {
		const result = await cli(["buy", token, "50000"]);
		expect(result.code).toBe(1);
		expect(result.stderr).toMatch(/holds [\d.]+ PACA; this needs 50000 PACA/);
		expect(result.stderr).toContain("modeldex faucet");
	});
});

describe("vault: deposit, claim, withdraw", () => {
	test("deposit credits the wallet in the vault", async () => {
		const result = await cli(["deposit", "25.5", "--json"]);
		expectOk(result);
		const body = result.json<{ payer: string; amount: string }>();
		expect(body.amount).toBe(parseEther("25.5").toString());
		const vaultTotal = await createPublicClient({ transport: http(chain.rpcUrl) }).readContract({
			address: chain.addresses.revenueVault,
			abi: revenueVaultAbi,
			functionName: "totalDeposited",
		});
		expect(vaultTotal).toBe(parseEther("25.5"));
	});

	test("deposit --wait without a session stops before sending anything", async () => {
		const result = await cli(["deposit", "1", "--wait"]);
		expect(result.code).toBe(1);
		expect(result.stderr).toContain("modeldex login");
		expect(result.stderr).not.toContain("Depositing");
	});

	test("claim: nothing yet, then holder revenue and creator fees after a settlement", async () => {
		const nothing = await cli(["claim", token]);
		expectOk(nothing);
		expect(nothing.stdout).toContain("Nothing to claim");
		expect(nothing.stdout).toContain("drips over 1 hour;");

		// The settler (deployer) settles 10 PACA of fees for the model; then a week passes.
		const settler = createWalletClient({ account: privateKeyToAccount(anvilKey(0)), transport: http(chain.rpcUrl) });
		const pub = createPublicClient({ transport: http(chain.rpcUrl) });
		const hash = await settler.writeContract({
			chain: null,
			address: chain.addresses.revenueVault,
			abi: revenueVaultAbi,
			functionName: "settle",
			args: [1n, [token], [parseEther("10")], keccak256(stringToHex("cli test epoch 1"))],
		});
		await pub.waitForTransactionReceipt({ hash });
		const testClient = createTestClient({ mode: "anvil", transport: http(chain.rpcUrl) });
		await testClient.increaseTime({ seconds: 8 * 24 * 3600 });
		await testClient.mine({ blocks: 1 });

		const result = await cli(["claim", token, "--json"]);
		expectOk(result);
		const body = result.json<{ holder_revenue: string; creator_fees: string; transactions: string[] }>();
		// Creator fee at 10 %: 1 PACA; the holders' 8.5 PACA goes mostly to the creator allocation.
		expect(BigInt(body.creator_fees)).toBe(parseEther("1"));
		expect(BigInt(body.holder_revenue)).toBeGreaterThan(0n);
		expect(body.transactions).toHaveLength(2);
	});

	test("withdraw without a gateway session: says to log in", async () => {
		const result = await cli(["withdraw", "1"]);
		expect(result.code).toBe(1);
		expect(result.stderr).toContain("modeldex login");
	});

	test("withdraw --settler: refused for a key without SETTLER_ROLE, paid once with it", async () => {
		const wallet = (await cli(["config", "--json"])).json<{ wallet: { address: Address } }>().wallet.address;
		const refused = await cli(["withdraw", "1", "--settler"]);
		expect(refused.code).toBe(1);
		expect(refused.stderr).toContain("SETTLER_ROLE");

		const asSettler = { MODELDEX_PRIVATE_KEY: anvilKey(0) };
		const pub = createPublicClient({ transport: http(chain.rpcUrl) });
		const pacaOf = () =>
			pub.readContract({ address: chain.addresses.paca, abi: modelTokenAbi, functionName: "balanceOf", args: [wallet] });
		const before = await pacaOf();
		const paid = await cli(["withdraw", "2", "--settler", "--payer", wallet, "--id", "w-1", "--json"], asSettler);
		expectOk(paid);
		expect(paid.json<{ paid: boolean }>().paid).toBe(true);
		expect(paid.stderr).toContain("not debited");
		expect((await pacaOf()) - before).toBe(parseEther("2"));
		const again = await cli(["withdraw", "2", "--settler", "--payer", wallet, "--id", "w-1"], asSettler);
		expect(again.code).toBe(1);
		expect(again.stderr).toContain("already been paid");
	});
});

describe("after Singularity", () => {
	test("the buy that sells out the curve graduates; then buy and sell go through the Uniswap pool", async () => {
		expectOk(await cli(["faucet", "7000000"]));
		const grad = await cli(["buy", token, "7000000", "--json"]);
		expectOk(grad);
		const graduating = grad.json<{ graduated: { pair: string } | null; raised: string }>();
		expect(graduating.graduated?.pair).toMatch(/^0x[0-9a-fA-F]{40}$/);
		// The raise that graduated, not the 0 the sale's reserve reads once it went into the pool.
		const config = await createPublicClient({ transport: http(chain.rpcUrl) }).readContract({
			address: chain.addresses.modelFactory,
			abi: modelFactoryAbi,
			functionName: "launchConfig",
		});
		expect(BigInt(graduating.raised)).toBeGreaterThanOrEqual(config.graduationThreshold);

		const poolBuy = await cli(["buy", token, "10", "--json"]);
		expectOk(poolBuy);
		const bought = poolBuy.json<{ venue: string; received: string }>();
		expect(bought.venue).toBe("pool");
		expect(BigInt(bought.received)).toBeGreaterThan(0n);

		const poolSell = await cli(["sell", token, "100", "--json"]);
		expectOk(poolSell);
		expect(poolSell.json<{ venue: string; received: string }>()).toMatchObject({ venue: "pool" });
		expect(poolSell.stderr).toContain("for the Uniswap router");
	});
});

describe("pointing elsewhere", () => {
	test("no chain at the RPC URL: says so and how to start one", async () => {
		const result = await cli(["buy", token, "1", "--rpc", `http://127.0.0.1:${await freePort()}`]);
		expect(result.code).toBe(1);
		expect(result.stderr).toContain("Cannot reach the chain RPC");
		expect(result.stderr).toContain("npm start");
	});

	test("a wrong trade, deposit or withdraw option is a usage error (exit 2) before the chain is asked, even with the RPC down", async () => {
		const down = `http://127.0.0.1:${await freePort()}`;
		const model = "0x000000000000000000000000000000000000dEaD";
		for (const [args, says] of [
			[["buy", model, "1", "--slippage", "0,5"], "'0,5' is not a slippage percentage"],
			[["sell", model, "1", "--slippage", "60"], "A slippage of 60% is too high"],
			[["buy", model, "1", "--deadline", "1.5"], "'1.5' is not a number of seconds for --deadline"],
			[["buy", model, "1", "--to", "0x123"], "'0x123' is not an address for --to"],
			[["sell", model, "1", "--min-out", "1e3"], "'1e3' is not an amount for --min-out"],
			[["deposit", "1", "--for", "alice"], "'alice' is not an address for --for"],
			[["withdraw", "1", "--settler", "--payer", "bob"], "'bob' is not an address for --payer"],
		] as const) {
			const result = await cli([...args, "--rpc", down]);
			expect(result.code, `${args.join(" ")}\n${result.stderr}`).toBe(2);
			expect(result.stderr).toContain(says);
			expect(result.stderr).not.toContain("Cannot reach the chain RPC");
		}
	});

	test("an addresses file of another deployment: says it is stale", async () => {
		const other = tempDir("stale");
		try {
			writeAddressesInto(other.path, { ...chain.addresses, modelFactory: "0x000000000000000000000000000000000000dEaD" });
			const result = await runCli(["buy", token, "1"], { cwd: other.path, env });
			expect(result.code).toBe(1);
			expect(result.stderr).toContain("There is no ModelFactory");
			expect(result.stderr).toContain("redeploy");
		} finally {
			other.remove();
		}
	});

	test("a remote chain with no key configured: asks for MODELDEX_PRIVATE_KEY instead of making one", async () => {
		const result = await cli([
			"config",
			"--json",
			"--home",
			join(dir.path, "empty-home"),
			"--rpc",
			"https://rpc.example.invalid",
		]);
		expectOk(result);
		expect(result.json<{ wallet: unknown }>().wallet).toBeNull();
		const login = await cli(["login", "--home", join(dir.path, "empty-home"), "--rpc", "https://rpc.example.invalid"]);
		expect(login.code).toBe(1);
		expect(login.stderr).toContain("MODELDEX_PRIVATE_KEY");
	});

	test("a remote chain with only the development wallet in home: refuses to sign with it until the key is named", async () => {
		const devWallet = join(dir.path, ".modeldex", "wallet.json");
		const refused = await cli(["login", "--json", "--rpc", "https://rpc.example.invalid"]);
		expect(refused.code).toBe(1);
		const { error } = refused.json<{ error: { code: string; message: string; hint: string } }>();
		expect(error.code).toBe("no_private_key");
		expect(error.message).toContain(`${devWallet} is the development wallet for local chains`);
		expect(error.hint).toContain(`--key-file ${devWallet}`);
		// Named with --key-file, the same file is used: login gets as far as the (absent) gateway.
		const named = await cli(["login", "--json", "--rpc", "https://rpc.example.invalid", "--key-file", devWallet]);
		expect(named.code).toBe(1);
		expect(named.json<{ error: { code: string } }>().error.code).toBe("gateway_unreachable");
	});
});

describe("a transaction whose outcome cannot be read", () => {
	test("says it was sent, with its hash, and to check it before running the command again", async () => {
		// The RPC answers everything until the transaction is sent, then fails every receipt lookup.
		const faults = await startRpcFaults(chain.rpcUrl);
		try {
			await fetch(`${faults.url}/cli/__faults`, {
				method: "POST",
				body: JSON.stringify({
					after: "eth_sendRawTransaction",
					fail: [{ method: "eth_getTransactionReceipt" }],
				}),
			});
			const result = await cli(["faucet", "5", "--json"], { MODELDEX_RPC_URL: `${faults.url}/cli` });
			expect(result.code).toBe(1);
			const { error } = result.json<{ error: { code: string; message: string; hint: string } }>();
			expect(error.code).toBe("transaction_status_unknown");
			expect(error.message).toMatch(/^The transaction 0x[0-9a-f]{64} was sent/);
			expect(error.hint).toContain("before running the command again");
		} finally {
			faults.server.close();
		}
	});

	test("withdraw --settler: shows its id before sending, and the retry it suggests pays at most once", async () => {
		const wallet = (await cli(["config", "--json"])).json<{ wallet: { address: Address } }>().wallet.address;
		const asSettler = { MODELDEX_PRIVATE_KEY: anvilKey(0) };
		const pub = createPublicClient({ transport: http(chain.rpcUrl) });
		const pacaOf = () =>
			pub.readContract({ address: chain.addresses.paca, abi: modelTokenAbi, functionName: "balanceOf", args: [wallet] });
		const before = await pacaOf();
		const faults = await startRpcFaults(chain.rpcUrl);
		let id: string;
		try {
			await fetch(`${faults.url}/withdraw/__faults`, {
				method: "POST",
				body: JSON.stringify({ after: "eth_sendRawTransaction", fail: [{ method: "eth_getTransactionReceipt" }] }),
			});
			// No --id: a random one, which a plain second run would not reuse.
			const lost = await cli(["withdraw", "1", "--settler", "--payer", wallet, "--json"], {
				...asSettler,
				MODELDEX_RPC_URL: `${faults.url}/withdraw`,
			});
			expect(lost.code).toBe(1);
			const { error } = lost.json<{ error: { code: string; hint: string } }>();
			expect(error.code).toBe("transaction_status_unknown");
			const retry = /modeldex withdraw 1 --settler --payer (0x[0-9a-fA-F]{40}) --id (0x[0-9a-f]{64})/.exec(error.hint);
			expect(retry?.[1]).toBe(wallet);
			id = retry?.[2] ?? "";
			// Named on stderr before the transaction went out.
			const shown = lost.stderr.indexOf(`Withdrawal id ${id}`);
			expect(shown).toBeGreaterThanOrEqual(0);
			expect(shown).toBeLessThan(lost.stderr.indexOf("sent 0x"));
		} finally {
			faults.server.close();
		}
		// It was mined (the outcome was only unreadable); the suggested retry does not pay again.
		expect((await pacaOf()) - before).toBe(parseEther("1"));
		const again = await cli(["withdraw", "1", "--settler", "--payer", wallet, "--id", id], asSettler);
		expect(again.code).toBe(1);
		expect(again.stderr).toContain(`Withdrawal ${id} has already been paid`);
		expect((await pacaOf()) - before).toBe(parseEther("1"));
	});
});

describe("the RPC goes away in the middle of a command", () => {
	test("a read no command step handles: says the RPC cannot be reached and that nothing was sent, not 'a bug'", async () => {
		// It answers connecting (chain id, code) and the model check (the first eth_call), then its
		// port is closed: claim's next reads of the model (sale, name, symbol, creator) find nothing there.
		const rpc = await startRpcThatGoesAway(chain.rpcUrl, "eth_call");
		const result = await cli(["claim", token, "--json"], { MODELDEX_RPC_URL: rpc.url });
		expect(result.code).toBe(1);
		const { error } = result.json<{ error: { code: string; message: string; hint: string } }>();
		expect(error.code).toBe("chain_unreachable");
		expect(error.message).toBe(`Cannot reach the chain RPC at ${rpc.url}. Nothing was sent.`);
		expect(error.hint).not.toContain("bug");

		// Now nothing listens at that URL from the start: the same error, from connecting.
		const closed = await cli(["claim", token], { MODELDEX_RPC_URL: rpc.url });
		expect(closed.code).toBe(1);
		expect(closed.stderr).toContain(`error: Cannot reach the chain RPC at ${rpc.url}.`);

		const again = await startRpcThatGoesAway(chain.rpcUrl, "eth_call");
		const human = await cli(["claim", token], { MODELDEX_RPC_URL: again.url });
		expect(human.code).toBe(1);
		expect(human.stderr).toContain(`error: Cannot reach the chain RPC at ${again.url}. Nothing was sent.`);
		expect(human.stderr).not.toContain("bug");
	});
});

describe("deposit --wait when the gateway fails while waiting", () => {
	test("says the deposit is on chain, with its hash, and not to deposit again", async () => {
		// Signed in to a gateway that is not there (the test's gateway URL is a closed port).
		const wallet = (await cli(["config", "--json"])).json<{ wallet: { address: Address } }>().wallet.address;
		const sessions = {
			sessions: { [env.MODELDEX_GATEWAY_URL as string]: { token: "mdxs_test", payer: wallet, expires_at: 4102444800 } },
		};
		writeFileSync(join(dir.path, ".modeldex", "session.json"), JSON.stringify(sessions));
		const result = await cli(["deposit", "1", "--wait", "--json"]);
		expect(result.code).toBe(1);
		const { error } = result.json<{ error: { code: string; message: string; hint: string } }>();
		expect(error.code).toBe("credit_unknown");
		expect(error.message).toMatch(/^The deposit is on chain \(0x[0-9a-f]{64}\)/);
		expect(error.hint).toContain("Do not deposit again");
	});
});
