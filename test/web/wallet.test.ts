import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { createPublicClient, decodeFunctionData, formatUnits, type Hex, hexToString, http, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { parseSiweMessage } from "viem/siwe";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { localPacaAbi, modelSaleAbi, modelTokenAbi } from "../../lib/chain/abis.ts";
import { connect } from "../../scripts/deploy-contracts.ts";
import { formatAmount, formatExact } from "../../web/src/format.ts";
import { type Chain, injectWallet, KEYS, moveThePrice, moveWallet, settleRevenue, startChain, walletOn } from "./chain.ts";
import { artifacts, buildDashboard, launchChromium, offscreen, type Stack, startStack } from "./stack.ts";

// The wallet features in real headless Chromium: an injected EIP-1193 wallet backed
// by a viem local account on anvil, the real contracts, and the gateway under
// wrangler dev serving the dashboard.

const MODEL = "webtest/echo-chat";

let chain: Chain;
let stack: Stack;
let chromium: { browser: Browser; close: () => Promise<void> };

async function shot(page: Page, name: string) {
	await mkdir(artifacts, { recursive: true });
	await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

/** A page that is screenshotted as failed-<name>.png if the test fails. */
async function openPage(name: string, viewport = { width: 1280, height: 1000 }): Promise<Page> {
	const page = await chromium.browser.newPage({ viewport });
	onTestFailed(async () => {
		if (!page.isClosed()) await shot(page, `failed-${name}`);
	});
	return page;
}

const text = async (page: Page, testId: string) => (await page.getByTestId(testId).first().textContent()) ?? "";

beforeAll(async () => {
	[chain] = await Promise.all([startChain(), buildDashboard()]);
	stack = await startStack({ indexer: { rpcUrl: chain.rpcUrl, addresses: chain.addresses } });
	// The indexer finds the tokenized model on chain and lists it (id = its Hugging Face repo);
	// the operator then routes it to an upstream.
	console.log(`indexer: ${await stack.runIndexer()}`);
	await stack.admin("PUT", `/v1/admin/models/${MODEL}`, {
		display_name: "Echo Chat 8B",
		input_price_per_m: "200000000000000000",
		output_price_per_m: "600000000000000000",
		hf_repo: MODEL,
		token_address: chain.token,
		upstreams: [{ kind: "openai", base_url: stack.upstream.url, upstream_model: "stand-in" }],
	});
	chromium = await launchChromium();
}, 240_000);

afterAll(async () => {
	await chromium?.close();
	await stack?.stop();
	chain?.stop();
});

describe("wallet features in Chromium with an anvil-backed wallet", () => {
	it("claims revenue and the shown PACA balance goes up by the claimed amount", async () => {
		const page = await openPage("claim");
		const holder = await injectWallet(page, chain.rpcUrl, KEYS.holder);
		const errors: string[] = [];
		page.on("pageerror", (e) => errors.push(e.message));
		await page.goto(`${stack.origin}/models/${MODEL}`);
		await page.getByRole("button", { name: "Connect wallet" }).first().click();
		await expect.poll(() => text(page, "holding-claimable"), { timeout: 15_000 }).toMatch(/PACA/);
		// The market from the chain index: IMO progress, price, holders, the holder's buy.
		await page.getByRole("progressbar", { name: "IMO progress toward Singularity" }).first().waitFor();
		await expect.poll(() => text(page, "market-holders")).toMatch(/^\d+$/);
		await expect.poll(() => page.locator("#trades li").count()).toBeGreaterThan(0);

		const client = createPublicClient({ transport: http(chain.rpcUrl) });
		const pacaOf = () =>
			client.readContract({ address: chain.addresses.paca, abi: localPacaAbi, functionName: "balanceOf", args: [holder] });
		const before = await pacaOf();
		const claimable = await client.readContract({
			address: chain.token,
			abi: modelTokenAbi,
			functionName: "claimable",
			args: [holder],
		});
		expect(claimable).toBeGreaterThan(0n);
		const shownBefore = await text(page, "holding-paca");
		expect(shownBefore.replace(/,/g, "")).toContain(formatUnits(before, 18).split(".")[0]);
		await shot(page, "wallet-model-before-claim");

		await page.getByRole("button", { name: "Claim revenue" }).click();
		await expect.poll(() => text(page, "holding-paca"), { timeout: 15_000 }).not.toBe(shownBefore);
		const after = await pacaOf();
		expect(after - before).toBeGreaterThanOrEqual(claimable);
		// The page shows the new balance, read from the chain (rounded down to 4 decimals).
		const shownAfter = (await text(page, "holding-paca")).replace(/,/g, "").replace(/\s*PACA$/, "");
		expect(formatUnits(after, 18).startsWith(shownAfter)).toBe(true);
		await shot(page, "wallet-model-after-claim");

		// The models list shows the market from the chain index too.
		await page.getByRole("link", { name: "Models" }).click();
		await page.locator("tbody").getByRole("progressbar").waitFor();
		await expect.poll(() => page.locator("tbody td[data-label=Holders]").first().textContent()).toMatch(/^\d+$/);
		await shot(page, "models-with-market");
		expect(errors).toEqual([]);
		await page.close();
	});

	it("says how much a claim paid, exactly as the page formats PACA, and shows the new numbers at once (model page, wallet page)", async () => {
		const page = await openPage("claim-confirmed");
		const holder = await injectWallet(page, chain.rpcUrl, KEYS.holder);
		const client = createPublicClient({ transport: http(chain.rpcUrl) });
		const claimableNow = () =>
			client.readContract({ address: chain.token, abi: modelTokenAbi, functionName: "claimable", args: [holder] });
		/** The success note of a claim: `Claimed <amount> PACA…`, its amount rounded as the page rounds, every digit in its tooltip. */
		const expectClaimed = async (scope: ReturnType<Page["locator"]>, amount: bigint, from = "") => {
			const note = scope.getByRole("status").filter({ hasText: /^Claimed / });
			await note.waitFor({ timeout: 20_000 });
			expect(await note.textContent()).toBe(`Claimed ${formatAmount(amount)} PACA${from}. It is in your wallet.`);
			expect(await note.locator(".amount").getAttribute("title")).toBe(`${formatExact(amount)} PACA`);
		};

		// The model page.
		await settleRevenue(chain, parseEther("100"));
		const onModel = await claimableNow();
		expect(onModel).toBeGreaterThan(0n);
		await page.goto(`${stack.origin}/models/${MODEL}`);
		await page.getByRole("button", { name: "Connect wallet" }).first().click();
		await expect.poll(() => text(page, "holding-claimable"), { timeout: 15_000 }).toBe(`${formatAmount(onModel)} PACA`);
		const pacaBefore = await text(page, "holding-paca");
		await page.getByRole("button", { name: "Claim revenue" }).click();
		await expectClaimed(page.locator("#stake"), onModel);
		// At once, not at the next 5 s refresh.
		await expect.poll(() => text(page, "holding-claimable"), { timeout: 3_000 }).toBe("0 PACA");
		await expect.poll(() => text(page, "holding-paca"), { timeout: 3_000 }).not.toBe(pacaBefore);

		// The wallet page.
		await settleRevenue(chain, parseEther("50"));
		const onWallet = await claimableNow();
		expect(onWallet).toBeGreaterThan(0n);
		await page.getByRole("link", { name: /^Wallet/ }).click();
		const cell = () => text(page, `claimable-${MODEL}`);
		await expect.poll(cell, { timeout: 15_000 }).toBe(`${formatAmount(onWallet)} PACA`);
		const walletPacaBefore = await text(page, "wallet-paca");
		await page.locator("#holdings").getByRole("button", { name: "Claim", exact: true }).click();
		await expectClaimed(page.locator("#holdings"), onWallet, " from Echo Chat 8B");
		await expect.poll(cell, { timeout: 3_000 }).toBe("0 PACA");
		await expect.poll(() => text(page, "wallet-paca"), { timeout: 3_000 }).not.toBe(walletPacaBefore);
		await page.close();
	});

	it("buys and sells on the curve, and says in plain words when slippage or the balance stops a trade", async () => {
		const page = await openPage("trade");
		await injectWallet(page, chain.rpcUrl, KEYS.holder);
		await page.goto(`${stack.origin}/models/${MODEL}`);
		await page.getByRole("button", { name: "Connect wallet" }).first().click();
		await expect.poll(() => text(page, "holding-tokens"), { timeout: 15_000 }).toMatch(/\d/);
		const tokensBefore = await text(page, "holding-tokens");

		await page.getByText("3%", { exact: true }).click();
		await page.getByLabel("Pay (PACA)").fill("12.5");
		await page.getByText(/You get about/).waitFor();
		expect(await offscreen(page)).toEqual([]);
		await page.getByRole("button", { name: "Buy", exact: true }).click();
		await page.getByText(/^Bought\./).waitFor({ timeout: 20_000 });
		await expect.poll(() => text(page, "holding-tokens"), { timeout: 10_000 }).not.toBe(tokensBefore);

		// Someone else buys between the quote and the click: at 0.5 % slippage the contract refuses, and the page says why.
		await page.getByText("0.5%", { exact: true }).click();
		await page.getByLabel("Pay (PACA)").fill("12.5");
		await page.getByText(/You get about/).waitFor();
		await moveThePrice(chain, KEYS.creator);
		await page.getByRole("button", { name: "Buy", exact: true }).click();
		const refusal = page.getByRole("alert").filter({ hasText: /price moved/ });
		await refusal.waitFor({ timeout: 20_000 });
		console.log(`shown after the price moved: ${await refusal.textContent()}`);

		// Selling: more than held is stopped before the wallet is asked; a real sale goes through.
		await page.getByText("Sell", { exact: true }).click();
		await page.getByLabel("Sell (tokens)").fill("999999999");
		await page.getByText(/^You hold only/).waitFor();
		await page.getByLabel("Sell (tokens)").fill("1000");
		await page.getByText(/You get about/).waitFor();
		await page.getByRole("button", { name: "Sell", exact: true }).click();
		await page.getByText(/^Sold\./).waitFor({ timeout: 20_000 });
		await shot(page, "wallet-trade");
		await page.setViewportSize({ width: 390, height: 844 });
		await shot(page, "wallet-trade-phone");
		expect(await offscreen(page)).toEqual([]);
		await page.close();
	});

	it("says why a custom slippage is refused, and trades at the slippage the page shows", async () => {
		const page = await openPage("slippage-custom");
		const network = walletOn();
		await injectWallet(page, chain.rpcUrl, KEYS.holder, network);
		await page.goto(`${stack.origin}/models/${MODEL}`);
		await page.getByRole("button", { name: "Connect wallet" }).first().click();
		await expect.poll(() => text(page, "holding-tokens"), { timeout: 15_000 }).toMatch(/\d/);
		await page.getByLabel("Pay (PACA)").fill("12.5");
		const quoteText = page.locator("#trade-quote").getByText(/You get about/);
		await quoteText.waitFor();
		const custom = page.getByLabel("Custom slippage in percent");
		const buy = page.getByRole("button", { name: "Buy", exact: true });

		// Typed 2 %, then something that is no slippage: the page says why, next to the field, and buys nothing at the 2 %.
		await custom.fill("2");
		await expect.poll(() => quoteText.textContent()).toMatch(/at 2% slippage/);
		for (const typed of ["abc", "0", "60", "1.234", "1,5"]) {
			await custom.fill(typed);
			await expect.poll(() => custom.getAttribute("aria-invalid"), { message: typed }).toBe("true");
			const describedBy = await custom.getAttribute("aria-describedby");
			expect(describedBy, typed).toBeTruthy();
			const problem = page.locator(`[id="${describedBy}"]`);
			expect(await problem.getAttribute("role"), typed).toBe("alert");
			expect(await problem.textContent(), typed).toContain("from 0.01 to 50, with a dot and at most two decimals");
			expect(await quoteText.textContent(), typed).not.toMatch(/slippage/);
			expect(await buy.isDisabled(), typed).toBe(true);
		}

		// Fixed: the message goes, and the buy's minimum is the quote less exactly 2 %.
		await custom.fill("2");
		await expect.poll(() => custom.getAttribute("aria-invalid")).toBe(null);
		expect(await page.locator("#slippage-problem").count()).toBe(0);
		await expect.poll(() => quoteText.textContent()).toMatch(/at 2% slippage/);
		const client = createPublicClient({ transport: http(chain.rpcUrl) });
		const [out] = await client.readContract({
			address: chain.sale,
			abi: modelSaleAbi,
			functionName: "quoteBuy",
			args: [parseEther("12.5")],
		});
		await buy.click();
		await page.getByText(/^Bought\./).waitFor({ timeout: 20_000 });
		const buys = network.requests
			.filter((r) => r.method === "eth_sendTransaction")
			.map((r) => decodeFunctionData({ abi: modelSaleAbi, data: (r.params[0] as { data: Hex }).data }))
			.filter((call) => call.functionName === "buy");
		expect(buys).toHaveLength(1);
		expect(buys[0]?.args?.[1]).toBe((out * 9_800n) / 10_000n);

		// A preset empties the custom field, so the page never shows two slippages; clearing a bad value goes back to the preset.
		await custom.fill("7");
		await page.getByText("0.5%", { exact: true }).click();
		expect(await custom.inputValue()).toBe("");
		await custom.fill("abc");
		await page.locator("#slippage-problem").waitFor();
		await custom.fill("");
		await page.locator("#slippage-problem").waitFor({ state: "detached" });
		expect(await page.getByRole("radio", { name: "0.5%" }).isChecked()).toBe(true);
		await page.close();
	});

	it("sells without asking for an approval: the token lets its own sale pull the seller's tokens", async () => {
		const page = await openPage("sell-no-approve");
		const network = walletOn();
		await injectWallet(page, chain.rpcUrl, KEYS.holder, network);
		const sent = () => network.requests.filter((r) => r.method === "eth_sendTransaction");
		const approvals = () => sent().filter((r) => String((r.params[0] as { data?: string }).data).startsWith("0x095ea7b3"));
		await page.goto(`${stack.origin}/models/${MODEL}`);
		await page.getByRole("button", { name: "Connect wallet" }).first().click();
		await expect.poll(() => text(page, "holding-tokens"), { timeout: 15_000 }).toMatch(/\d/);
		await page.getByText("Sell", { exact: true }).click();
		// More than any earlier test approved for the sale: an approval, if the page asked for one, would show.
		await page.getByLabel("Sell (tokens)").fill("1500");
		await page.getByText(/You get about/).waitFor();
		await page.getByRole("button", { name: "Sell", exact: true }).click();
		await page.getByText(/^Sold\./).waitFor({ timeout: 20_000 });
		expect(approvals()).toEqual([]);
		expect(sent()).toHaveLength(1);
		await page.close();
	});

	it("refuses a deposit above the wallet's PACA in words, before any transaction (no approval paid for in vain)", async () => {
		const page = await openPage("deposit-too-much");
		const network = walletOn();
		await injectWallet(page, chain.rpcUrl, KEYS.holder, network);
		await page.goto(`${stack.origin}/wallet`);
		await page.getByRole("button", { name: "Connect wallet" }).click();
		await expect.poll(() => text(page, "wallet-paca"), { timeout: 15_000 }).toMatch(/PACA/);
		await page.getByLabel("Amount (PACA)").fill("100000000");
		await page.getByRole("button", { name: "Deposit" }).click();
		await page
			.locator("#deposit")
			.getByRole("alert")
			.filter({ hasText: /You have only [\d,.]+ PACA in this wallet/ })
			.waitFor({ timeout: 10_000 });
		expect(network.requests.filter((r) => r.method === "eth_sendTransaction")).toEqual([]);
		await page.close();
	});

	it("deposits credit, signs in with Ethereum and creates and revokes an API key", async () => {
		const page = await openPage("account");
		await injectWallet(page, chain.rpcUrl, KEYS.holder);
		await page.goto(`${stack.origin}/wallet`);
		await page.getByRole("button", { name: "Connect wallet" }).click();

		await expect.poll(() => text(page, "wallet-paca"), { timeout: 15_000 }).toMatch(/PACA/);
		await page.getByLabel("Amount (PACA)").fill("25");
		await page.getByRole("button", { name: "Deposit" }).click();
		await page.getByText(/^Deposited 25 PACA/).waitFor({ timeout: 20_000 });
		const deposited = await stack.runIndexer();
		console.log(`indexer after the deposit: ${deposited}`);

		await page.getByRole("button", { name: "Sign in with Ethereum" }).click();
		await expect.poll(() => text(page, "credit-available"), { timeout: 15_000 }).toMatch(/PACA/);
		// The indexer saw the deposit and credited it: the account lists it.
		await expect.poll(() => text(page, "deposit-list"), { timeout: 20_000 }).toMatch(/^25 ?PACAcredited/);
		await page.getByPlaceholder("Key name (optional)").fill("ui key");
		await page.getByRole("button", { name: "Create key" }).click();
		await expect.poll(() => text(page, "new-key"), { timeout: 10_000 }).toMatch(/^mdx_/);
		await expect.poll(() => text(page, "key-list")).toContain("ui key");
		await shot(page, "wallet-desktop");

		await page.getByRole("button", { name: "Revoke key ui key" }).click();
		await expect.poll(() => text(page, "key-list"), { timeout: 10_000 }).not.toContain("ui key");

		await page.setViewportSize({ width: 390, height: 844 });
		await shot(page, "wallet-phone");
		expect(await offscreen(page)).toEqual([]);
		await page.close();
	});

	it("says why it asks to sign in again when the API stops taking the session", async () => {
		const page = await openPage("session-ended");
		const payer = await injectWallet(page, chain.rpcUrl, KEYS.payer);
		// A session this tab kept from before the gateway's session secret was rotated: its MAC no longer verifies.
		const expiresAt = Math.floor(Date.now() / 1000) + 3600;
		const stale = { token: `mdxs_${payer.slice(2).toLowerCase()}_${expiresAt}_AAAAAAAAAAAAAAAAAAAAAA`, payer, expiresAt };
		await page.addInitScript((saved) => sessionStorage.setItem("modeldex.session", saved), JSON.stringify(stale));
		await page.goto(`${stack.origin}/wallet`);
		await page.getByRole("button", { name: "Connect wallet" }).click();
		const ended = page
			.locator("#account")
			.getByRole("alert")
			.filter({ hasText: "Your sign-in has ended: it expired, or the Modeldex API no longer accepts it. Sign in again" });
		await ended.waitFor({ timeout: 15_000 });
		await page.getByRole("button", { name: "Sign in with Ethereum" }).click();
		await expect.poll(() => text(page, "credit-available"), { timeout: 15_000 }).toMatch(/PACA/);
		expect(await ended.count()).toBe(0);
		// Signing out by hand needs no explanation.
		await page.getByRole("button", { name: "Sign out" }).click();
		await page.getByRole("button", { name: "Sign in with Ethereum" }).waitFor();
		expect(await page.locator("#account").getByRole("alert").count()).toBe(0);
		await page.close();
	});

	it("says so when the wallet's PACA or the deposit list cannot be read, and reads them again on request", async () => {
		const page = await openPage("wallet-reads-fail");
		const network = walletOn();
		await injectWallet(page, chain.rpcUrl, KEYS.payer, network);
		// The wallet's node fails every PACA balance read (balanceOf on the PACA token) …
		const paca = chain.addresses.paca.toLowerCase();
		network.failCall = (call) => call.to?.toLowerCase() === paca && Boolean(call.data?.startsWith("0x70a08231"));
		// … and the gateway fails the deposit list.
		await page.route("**/v1/account/deposits*", (route) =>
			route.fulfill({
				status: 500,
				contentType: "application/json",
				body: JSON.stringify({
					error: { message: "The server had an error while processing your request.", code: "internal_error" },
				}),
			}),
		);
		await page.goto(`${stack.origin}/wallet`);
		await page.getByRole("button", { name: "Connect wallet" }).click();
		const pacaProblem = page
			.locator("#deposit")
			.getByRole("alert")
			.filter({ hasText: /^Could not read the PACA in this wallet: ./ });
		await pacaProblem.waitFor({ timeout: 15_000 });
		expect(await text(page, "wallet-paca")).toBe("…");

		await page.getByRole("button", { name: "Sign in with Ethereum" }).click();
		await expect.poll(() => text(page, "credit-available"), { timeout: 15_000 }).toMatch(/PACA/);
		const listProblem = page
			.locator("#account")
			.getByRole("alert")
			.filter({ hasText: "Could not load your deposits: The server had an error while processing your request." });
		await listProblem.waitFor({ timeout: 10_000 });

		// Both come back with "Try again", once they can be read.
		network.failCall = null;
		await page.unroute("**/v1/account/deposits*");
		await pacaProblem.getByRole("button", { name: "Try again" }).click();
		await expect.poll(() => text(page, "wallet-paca"), { timeout: 10_000 }).toMatch(/PACA/);
		await pacaProblem.waitFor({ state: "detached" });
		await listProblem.getByRole("button", { name: "Try again" }).click();
		await listProblem.waitFor({ state: "detached", timeout: 10_000 });
		await page.close();
	});

	it("the trade panel's 'In wallet' follows the chain, as 'Your stake' does, when the balance changes elsewhere", async () => {
		const page = await openPage("trade-balance-follows");
		await injectWallet(page, chain.rpcUrl, KEYS.creator);
		await page.goto(`${stack.origin}/models/${MODEL}`);
		await page.getByRole("button", { name: "Connect wallet" }).first().click();
		const inWallet = () =>
			page
				.locator("#trade")
				.getByText(/^In wallet:/)
				.textContent();
		await expect.poll(inWallet, { timeout: 15_000 }).toMatch(/\d PACA/);
		const before = await inWallet();
		// Another tab or app spends some of the wallet's PACA.
		const { walletClient, publicClient } = await connect(chain.rpcUrl, KEYS.creator);
		const hash = await walletClient.writeContract({
			address: chain.addresses.paca,
			abi: localPacaAbi,
			functionName: "transfer",
			args: [privateKeyToAccount(KEYS.deployer).address, 10n ** 21n],
		});
		await publicClient.waitForTransactionReceipt({ hash });
		await expect.poll(() => text(page, "holding-paca"), { timeout: 10_000 }).not.toBe("");
		await expect.poll(inWallet, { timeout: 10_000 }).not.toBe(before);
		expect((await inWallet())?.replace(/^In wallet:\s*/, "").replace(/\s*PACA$/, "")).toBe(
			(await text(page, "holding-paca")).replace(/\s*PACA$/, ""),
		);
		await page.close();
	});

	// The PACA leaves the wallet a few milliseconds before the click; the panel reads the balance
	// every 5 s, and a read landing in between makes the page refuse the buy itself (disabled
	// button) instead of sending it: a ~1 % race, which one retry makes negligible.
	it("says the PACA balance is too low, in words, when it fell after the page read it", { retry: 2 }, async () => {
		const page = await openPage("buy-balance-fell");
		await injectWallet(page, chain.rpcUrl, KEYS.creator);
		await page.goto(`${stack.origin}/models/${MODEL}`);
		await page.getByRole("button", { name: "Connect wallet" }).first().click();
		await expect.poll(() => text(page, "holding-paca"), { timeout: 15_000 }).toMatch(/\d/);
		// The creator spends its PACA elsewhere (another tab, another app) just before clicking Buy.
		const { walletClient, publicClient } = await connect(chain.rpcUrl, KEYS.creator);
		const creator = walletClient.account.address;
		const all = await publicClient.readContract({
			address: chain.addresses.paca,
			abi: localPacaAbi,
			functionName: "balanceOf",
			args: [creator],
		});
		const away = privateKeyToAccount(KEYS.payer).address;
		const move = async (from: typeof walletClient, to: `0x${string}`, amount: bigint) => {
			const hash = await from.writeContract({
				address: chain.addresses.paca,
				abi: localPacaAbi,
				functionName: "transfer",
				args: [to, amount],
			});
			await publicClient.waitForTransactionReceipt({ hash });
		};
		await page.getByLabel("Pay (PACA)").fill("12.5");
		await page.getByText(/You get about/).waitFor();
		// Right before the click, so the panel's next read of the balance (every 5 s) comes after it.
		await move(walletClient, away, all);
		try {
			await page.getByRole("button", { name: "Buy", exact: true }).click();
			await page
				.locator("#trade")
				.getByRole("alert")
				.filter({ hasText: "The contract refused: your balance is too low for this." })
				.waitFor({ timeout: 20_000 });
		} finally {
			await move((await connect(chain.rpcUrl, KEYS.payer)).walletClient, creator, all);
		}
		await page.close();
	});
});

describe("a wallet on another network than the deployment's (GET /v1/chain: 31337)", () => {
	const banner = (page: Page) => page.getByTestId("network-banner");
	/** The wallet's reads that reached the chain while it was on `chainId`. */
	const readsOn = (network: ReturnType<typeof walletOn>, chainId: number) =>
		network.requests.filter((r) => r.method === "eth_call" && r.chainId === chainId);

	it("warns before any transaction, naming both networks, shows none of the wallet's numbers, and switches on request", async () => {
		const page = await openPage("wrong-network");
		const network = walletOn(1);
		await injectWallet(page, chain.rpcUrl, KEYS.holder, network);
		await page.goto(`${stack.origin}/models/${MODEL}`);
		await page.getByRole("button", { name: "Connect wallet" }).first().click();
		await banner(page).waitFor({ timeout: 15_000 });
		expect(await banner(page).textContent()).toMatch(
			/Wrong network\..*Your wallet is on Ethereum \(chain id 1\), but Modeldex runs on the local development chain \(chain id 31337\)/,
		);
		await page.getByTestId("numbers-hidden").first().waitFor();
		// The anvil behind this wallet has the holder's real numbers at the same addresses: none are shown.
		for (const id of ["holding-tokens", "holding-claimable", "holding-paca"]) expect(await text(page, id)).toBe("—");
		await page.getByLabel("Pay (PACA)").fill("12.5");
		expect(await page.getByRole("button", { name: "Buy", exact: true }).isDisabled()).toBe(true);
		expect(await page.getByText(/You get about/).count()).toBe(0);
		expect(readsOn(network, 1)).toEqual([]);
		await shot(page, "wrong-network");
		await page.setViewportSize({ width: 390, height: 844 });
		// The chart follows the new width a frame or two later.
		await expect.poll(() => page.evaluate(() => document.documentElement.scrollWidth)).toBe(390);
		await shot(page, "wrong-network-phone");
		expect(await offscreen(page)).toEqual([]);
		await page.setViewportSize({ width: 1280, height: 1000 });

		// The wallet page too, from the banner above it.
		await page.getByRole("link", { name: /^Wallet/ }).click();
		await banner(page).waitFor();
		await page.getByTestId("wallet-paca").waitFor();
		expect(await text(page, "wallet-paca")).toBe("—");
		expect(await text(page, `claimable-${MODEL}`)).toBe("—");

		await page.getByRole("button", { name: "Switch network" }).click();
		await banner(page).waitFor({ state: "detached", timeout: 10_000 });
		expect(network.requests.filter((r) => r.method === "wallet_switchEthereumChain").map((r) => r.params)).toEqual([
			[{ chainId: "0x7a69" }],
		]);
		await expect.poll(() => text(page, "wallet-paca"), { timeout: 15_000 }).toMatch(/PACA/);
		await expect.poll(() => text(page, `claimable-${MODEL}`)).toMatch(/PACA/);
		expect(readsOn(network, 1)).toEqual([]);
		await page.close();
	});

	it("says why when the wallet will not switch, and keeps the numbers hidden", async () => {
		const page = await openPage("wrong-network-declined");
		const network = walletOn(8453, false);
		await injectWallet(page, chain.rpcUrl, KEYS.holder, network);
		await page.goto(`${stack.origin}/wallet`);
		await page.getByRole("button", { name: "Connect wallet" }).click();
		await page.getByRole("button", { name: "Switch network" }).click();
		await expect.poll(() => banner(page).textContent()).toContain("it is on Base (chain id 8453) (you declined the switch)");
		expect(await text(page, "wallet-paca")).toBe("—");
		expect(readsOn(network, 8453)).toEqual([]);
		await page.close();
	});

	it("follows the wallet when it moves network by itself (chainChanged), both ways", async () => {
		const page = await openPage("chain-changed");
		const network = walletOn();
		await injectWallet(page, chain.rpcUrl, KEYS.holder, network);
		await page.goto(`${stack.origin}/models/${MODEL}`);
		await page.getByRole("button", { name: "Connect wallet" }).first().click();
		await expect.poll(() => text(page, "holding-tokens"), { timeout: 15_000 }).toMatch(/\d/);
		expect(await banner(page).count()).toBe(0);

		await moveWallet(page, network, 8453);
		await banner(page).waitFor({ timeout: 5_000 });
		expect(await banner(page).textContent()).toContain("Your wallet is on Base (chain id 8453)");
		await expect.poll(() => text(page, "holding-tokens")).toBe("—");
		expect(await text(page, "holding-paca")).toBe("—");

		await moveWallet(page, network, 31337);
		await banner(page).waitFor({ state: "detached", timeout: 5_000 });
		await expect.poll(() => text(page, "holding-tokens"), { timeout: 15_000 }).toMatch(/\d/);
		expect(readsOn(network, 8453)).toEqual([]);
		await page.close();
	});

	it("says it cannot check the network when GET /v1/chain fails, rather than assume, until it can", async () => {
		const page = await openPage("chain-unreadable");
		const network = walletOn();
		await injectWallet(page, chain.rpcUrl, KEYS.holder, network);
		await page.route("**/v1/chain", (route) =>
			route.fulfill({
				status: 500,
				contentType: "application/json",
				body: JSON.stringify({
					error: { message: "The server had an error while processing your request.", code: "internal_error" },
				}),
			}),
		);
		await page.goto(`${stack.origin}/models/${MODEL}`);
		await page.getByRole("button", { name: "Connect wallet" }).first().click();
		await banner(page).waitFor({ timeout: 15_000 });
		expect(await banner(page).textContent()).toMatch(
			/Network not checked\..*Could not read which network Modeldex runs on .*The server had an error/,
		);
		expect(await text(page, "holding-tokens")).toBe("—");
		expect(readsOn(network, 31337)).toEqual([]);
		await shot(page, "chain-unreadable");

		await page.unroute("**/v1/chain");
		await page.getByRole("button", { name: "Try again" }).click();
		await banner(page).waitFor({ state: "detached", timeout: 10_000 });
		await expect.poll(() => text(page, "holding-tokens"), { timeout: 15_000 }).toMatch(/\d/);
		await page.close();
	});

	it("signs in for the deployment's chain, switching the wallet first", async () => {
		const page = await openPage("sign-in-other-network");
		const network = walletOn(1);
		await injectWallet(page, chain.rpcUrl, KEYS.payer, network);
		await page.goto(`${stack.origin}/wallet`);
		await page.getByRole("button", { name: "Connect wallet" }).click();
		await page.getByRole("button", { name: "Sign in with Ethereum" }).click();
		await expect.poll(() => text(page, "credit-available"), { timeout: 15_000 }).toMatch(/PACA/);
		const signed = network.requests.filter((r) => r.method === "personal_sign");
		expect(signed).toHaveLength(1);
		expect(signed[0]?.chainId).toBe(31337);
		expect(parseSiweMessage(hexToString(signed[0]?.params[0] as `0x${string}`)).chainId).toBe(31337);
		expect(await banner(page).count()).toBe(0);
		await page.close();
	});

	it("signs nothing when the wallet will not switch, and says so", async () => {
		const page = await openPage("sign-in-declined");
		const network = walletOn(1, false);
		await injectWallet(page, chain.rpcUrl, KEYS.payer, network);
		await page.goto(`${stack.origin}/wallet`);
		await page.getByRole("button", { name: "Connect wallet" }).click();
		await page.getByRole("button", { name: "Sign in with Ethereum" }).click();
		await page
			.locator("#account")
			.getByRole("alert")
			.filter({ hasText: "(you declined the switch). Nothing was signed." })
			.waitFor({ timeout: 10_000 });
		expect(network.requests.filter((r) => r.method === "personal_sign")).toEqual([]);
		await page.close();
	});
});
