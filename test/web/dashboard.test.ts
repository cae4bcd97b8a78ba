import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { privateKeyToAccount } from "viem/accounts";
import { createSiweMessage } from "viem/siwe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { artifacts, buildDashboard, launchChromium, offscreen, type Stack, startStack } from "./stack.ts";

// The dashboard in real headless Chromium against the local stack (wrangler dev serving
// the gateway and the built web/dist). Screenshots land in test/web/artifacts/.

const MODEL = "webtest/echo-chat";
// A throwaway key (anvil's account #5): the payer whose API key makes the calls.
const payer = privateKeyToAccount("0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba");
const PACA = 10n ** 18n;

let stack: Stack;
let chromium: { browser: Browser; close: () => Promise<void> };
let apiKey: string;

async function signIn(origin: string): Promise<string> {
	const { nonce } = (await (await fetch(`${origin}/v1/auth/nonce`)).json()) as { nonce: string };
	const message = createSiweMessage({
		domain: new URL(origin).host,
		address: payer.address,
		uri: origin,
		version: "1",
		chainId: 31337,
		nonce,
		issuedAt: new Date(),
	});
	const signature = await payer.signMessage({ message });
	const res = await fetch(`${origin}/v1/auth/verify`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({ message, signature }),
	});
	expect(res.status, await res.clone().text()).toBe(200);
	return ((await res.json()) as { token: string }).token;
}

async function callModel(content: string) {
	const res = await fetch(`${stack.origin}/v1/chat/completions`, {
		method: "POST",
		headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
		body: JSON.stringify({ model: MODEL, max_tokens: 8, messages: [{ role: "user", content }] }),
	});
	expect(res.status, await res.clone().text()).toBe(200);
	await res.text();
}

async function shot(page: Page, name: string) {
	await mkdir(artifacts, { recursive: true });
	await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

beforeAll(async () => {
	await buildDashboard();
	stack = await startStack();
	await stack.admin("PUT", `/v1/admin/models/${MODEL}`, {
		display_name: "Echo Chat 8B",
		input_price_per_m: ((2n * PACA) / 10n).toString(),
		output_price_per_m: ((6n * PACA) / 10n).toString(),
		hf_repo: "webtest/echo-chat",
		upstreams: [{ kind: "openai", base_url: stack.upstream.url, upstream_model: "stand-in" }],
	});
	await stack.admin("POST", "/v1/admin/credits", {
		payer: payer.address,
		amount: (100n * PACA).toString(),
		idempotency_key: "web-test-credit",
	});
	const session = await signIn(stack.origin);
	const created = await fetch(`${stack.origin}/v1/account/keys`, {
		method: "POST",
		headers: { authorization: `Bearer ${session}`, "content-type": "application/json" },
		body: JSON.stringify({ name: "web test" }),
	});
	expect(created.status).toBe(201);
	apiKey = ((await created.json()) as { key: string }).key;
	chromium = await launchChromium();
}, 180_000);

afterAll(async () => {
	await chromium?.close();
	await stack?.stop();
});

describe("dashboard in Chromium", () => {
	it("serves the app from the gateway and lists the model with its live numbers", async () => {
		await callModel("warm up");
		const page = await chromium.browser.newPage({ viewport: { width: 1280, height: 900 } });
		const errors: string[] = [];
		page.on("pageerror", (e) => errors.push(e.message));
		const response = await page.goto(stack.origin);
		expect(response?.headers()["content-type"]).toContain("text/html");
		await page.getByRole("link", { name: "Echo Chat 8B" }).waitFor();
		await expect.poll(() => page.locator("tbody tr").first().locator("td").nth(3).textContent()).toMatch(/^\d+$/);
		await shot(page, "models-desktop");
		// Sortable from the keyboard: the column headers are buttons.
		const fees = page.getByRole("columnheader", { name: "Fees earned" });
		await fees.getByRole("button").focus();
		await page.keyboard.press("Enter");
		await expect.poll(() => fees.getAttribute("aria-sort")).toBe("descending");
		await page.keyboard.press("Enter");
		await expect.poll(() => fees.getAttribute("aria-sort")).toBe("ascending");
		// The API still answers under the assets: JSON, not the app's HTML.
		expect((await page.request.get(`${stack.origin}/v1/models`)).headers()["content-type"]).toContain("application/json");
		expect(errors).toEqual([]);
		await page.close();
	});

	it("moves the live counter within 2 seconds of a call made through the API", async () => {
		const page = await chromium.browser.newPage({ viewport: { width: 1280, height: 900 } });
		await page.goto(`${stack.origin}/models/${MODEL}`);
		const status = page.getByTestId("live-status");
		await expect.poll(() => status.textContent(), { timeout: 15_000 }).toBe("Live");
		const requests = page.getByTestId("live-requests");
		await expect.poll(() => requests.textContent()).toMatch(/^\d+$/);
		const before = Number(await requests.textContent());

		const calledAt = Date.now();
		await callModel("move the counter");
		await page.waitForFunction((n) => Number(document.querySelector("[data-testid=live-requests]")?.textContent) > n, before, {
			timeout: 2_000,
			polling: 25,
		});
		const movedAfterMs = Date.now() - calledAt;
		console.log(`live counter moved ${movedAfterMs} ms after the call was sent`);
		expect(movedAfterMs).toBeLessThan(2_000);
		expect(Number(await requests.textContent())).toBe(before + 1);
		await expect.poll(() => page.getByTestId("live-fees").textContent()).toMatch(/PACA/);
		await shot(page, "model-desktop");
		await page.close();
	});

	it("says when the live feed is lost, reconnects by itself and keeps counting", async () => {
		const page = await chromium.browser.newPage({ viewport: { width: 1280, height: 900 } });
		await page.goto(`${stack.origin}/models/${MODEL}`);
		const status = page.getByTestId("live-status");
		await expect.poll(() => status.textContent(), { timeout: 15_000 }).toBe("Live");

		const restarted = stack.restartGateway(1_500);
		await expect.poll(() => status.textContent(), { timeout: 10_000 }).toBe("Connection lost, reconnecting…");
		await shot(page, "model-reconnecting");
		await restarted;
		await expect.poll(() => status.textContent(), { timeout: 20_000 }).toBe("Live (reconnected)");

		const before = Number(await page.getByTestId("live-requests").textContent());
		await callModel("after the reconnect");
		await expect.poll(() => page.getByTestId("live-requests").textContent(), { timeout: 2_000 }).toBe(String(before + 1));
		await page.close();
	});

	it("moving to another model's page shows none of the first model's numbers while the second loads", async () => {
		const QUIET = "webtest/quiet-chat";
		await stack.admin("PUT", `/v1/admin/models/${QUIET}`, {
			display_name: "Quiet Chat 1B",
			input_price_per_m: (PACA / 10n).toString(),
			output_price_per_m: (PACA / 10n).toString(),
			hf_repo: QUIET,
			upstreams: [{ kind: "openai", base_url: stack.upstream.url, upstream_model: "stand-in" }],
		});
		await callModel("so the first model has a count of its own");
		const page = await chromium.browser.newPage({ viewport: { width: 1280, height: 900 } });
		await page.goto(`${stack.origin}/models/${MODEL}`);
		await expect.poll(() => page.getByTestId("live-requests").textContent(), { timeout: 15_000 }).toMatch(/^[1-9]\d*$/);
		// Hold the second model's catalogue entry, so the page is caught between the two.
		let release = () => {};
		const held = new Promise<void>((resolve) => {
			release = resolve;
		});
		await page.route(`**/v1/models/${QUIET}`, async (route) => {
			await held;
			await route.continue();
		});
		await page.evaluate((href) => {
			history.pushState(null, "", href);
			dispatchEvent(new PopStateEvent("popstate"));
		}, `/models/${QUIET}`);
		await expect.poll(() => page.locator("main h1").textContent()).toBe(`Loading ${QUIET}…`);
		expect(await page.getByTestId("live-requests").count()).toBe(0);
		release();
		await expect.poll(() => page.locator("main h1").textContent()).toBe("Quiet Chat 1B");
		await expect.poll(() => page.getByTestId("live-status").textContent(), { timeout: 15_000 }).toBe("Live");
		// Never called: its own zero, not the first model's count.
		await expect.poll(() => page.getByTestId("live-requests").textContent(), { timeout: 5_000 }).toBe("0");
		await page.close();
	});

	it("fits a phone screen and is usable from the keyboard", async () => {
		const page = await chromium.browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
		await page.goto(stack.origin);
		await page.getByRole("link", { name: "Echo Chat 8B" }).waitFor();
		await shot(page, "models-phone");
		const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
		expect(overflow).toBeLessThanOrEqual(0);

		// Tab to the model's link and open it with Enter.
		for (let i = 0; i < 20; i++) {
			await page.keyboard.press("Tab");
			if ((await page.evaluate(() => document.activeElement?.textContent)) === "Echo Chat 8B") break;
		}
		await page.keyboard.press("Enter");
		await page.waitForURL(`**/models/${MODEL}`);
		await expect.poll(() => page.getByTestId("live-status").textContent(), { timeout: 15_000 }).toBe("Live");
		await shot(page, "model-phone");
		expect(await offscreen(page)).toEqual([]);
		await page.emulateMedia({ colorScheme: "dark" });
		await shot(page, "model-phone-dark");
		await page.close();
	});
});
