import { env } from "cloudflare:test";
import { parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { revenueVaultAbi } from "../../lib/chain/abis.ts";
import { runSettler } from "../../workers/settler/settler.ts";
import { testEnv } from "../helpers/fixtures.ts";
import { callGateway } from "../helpers/gateway.ts";
import { deployment, fundedPayer as funded, ledger, pacaOf, publicClient, sessionHeader, settlerEnv } from "./helpers.ts";

const net = () => deployment("withdrawals");

/** A payer with `amount` deposited and credited by the indexer. */
async function fundedPayer(amount: bigint) {
	const payer = await funded(net(), amount);
	expect((await ledger(payer.address).account()).balance).toBe(amount);
	return payer;
}

describe("withdrawals", () => {
	it("locks the amount at once and pays it from the vault on the settler's next run, once", async () => {
		const payer = await fundedPayer(parseEther("10"));
		const res = await callGateway("/v1/account/withdrawals", {
			headers: await sessionHeader(payer.address),
			json: { amount: parseEther("4").toString() },
		});
		expect(res.status).toBe(201);
		const { id } = res.json() as { id: string };
		expect((await ledger(payer.address).account()).available).toBe(parseEther("6"));

		const before = await pacaOf(net(), payer.address);
		const result = await runSettler(settlerEnv(net()), Date.now());
		expect(result.withdrawalsPaid).toBe(1);
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("4"));
		expect(
			await publicClient(net()).readContract({
				address: net().addresses.revenueVault,
				abi: revenueVaultAbi,
				functionName: "withdrawalPaid",
				args: [id as `0x${string}`],
			}),
		).toBe(true);

		await runSettler(settlerEnv(net()), Date.now());
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("4"));
		const list = await callGateway("/v1/account/withdrawals", { headers: await sessionHeader(payer.address) });
		expect(list.json().data).toMatchObject([{ id, status: "paid", amount: parseEther("4").toString() }]);
	});

	it("locks once when a request is retried with the same Idempotency-Key", async () => {
		const payer = await fundedPayer(parseEther("10"));
		const init = async (amount: string) => ({
			headers: { ...(await sessionHeader(payer.address)), "idempotency-key": "withdraw-once" },
			json: { amount: parseEther(amount).toString() },
		});
		const first = await callGateway("/v1/account/withdrawals", await init("3"));
		const retry = await callGateway("/v1/account/withdrawals", await init("3"));
		expect(first.status).toBe(201);
		expect(retry.status).toBe(200);
		expect(retry.headers.get("idempotent-replayed")).toBe("true");
		expect(retry.json().id).toBe(first.json().id);
		expect((await ledger(payer.address).account()).available).toBe(parseEther("7"));
		const other = await callGateway("/v1/account/withdrawals", await init("2"));
		expect(other.status).toBe(409);
		expect(other.json().error.code).toBe("idempotency_conflict");
	});

	it("pays once when the settler is killed after broadcasting and its record is lost", async () => {
		const payer = await fundedPayer(parseEther("5"));
		const res = await callGateway("/v1/account/withdrawals", {
			headers: await sessionHeader(payer.address),
			json: { amount: parseEther("5").toString() },
		});
		const { id } = res.json() as { id: string };
		const before = await pacaOf(net(), payer.address);
		// As if the run died right after broadcasting: the row is back to "requested".
		await runSettler(settlerEnv(net()), Date.now());
		await env.DB.prepare("UPDATE withdrawals SET state = 'requested', tx_hash = NULL, nonce = NULL WHERE id = ?").bind(id).run();
		await runSettler(settlerEnv(net()), Date.now());
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("5"));
		const row = await env.DB.prepare("SELECT state FROM withdrawals WHERE id = ?").bind(id).first<{ state: string }>();
		expect(row?.state).toBe("paid");
	});

	it("refuses to pay out credit an admin granted: it is not in the vault", async () => {
		const payer = await fundedPayer(parseEther("1"));
		const admin = await callGateway("/v1/admin/credits", {
			headers: { authorization: `Bearer ${testEnv().ADMIN_TOKEN}` },
			json: { payer: payer.address, amount: parseEther("5").toString(), idempotency_key: "promo-withdraw" },
		});
		expect(admin.status).toBe(201);
		const account = await callGateway("/v1/account", { headers: await sessionHeader(payer.address) });
		expect(account.json()).toMatchObject({ available: parseEther("6").toString(), withdrawable: parseEther("1").toString() });
		const tooMuch = await callGateway("/v1/account/withdrawals", {
			headers: await sessionHeader(payer.address),
			json: { amount: parseEther("2").toString() },
		});
		expect(tooMuch.status).toBe(402);
		expect(tooMuch.json().error.message).toContain(`${parseEther("1")} base units are available to withdraw`);
		const deposited = await callGateway("/v1/account/withdrawals", {
			headers: await sessionHeader(payer.address),
			json: { amount: parseEther("1").toString() },
		});
		expect(deposited.status).toBe(201);
		// The admin credit is still there to spend through the API.
		expect((await ledger(payer.address).account()).available).toBe(parseEther("5"));
	});

	it("refuses more than the available credit, and an API key in place of a session", async () => {
		const payer = await fundedPayer(parseEther("1"));
		const tooMuch = await callGateway("/v1/account/withdrawals", {
			headers: await sessionHeader(payer.address),
			json: { amount: parseEther("2").toString() },
		});
		expect(tooMuch.status).toBe(402);
		expect(tooMuch.json().error.code).toBe("insufficient_quota");
		expect((await ledger(payer.address).account()).available).toBe(parseEther("1"));
		const bad = await callGateway("/v1/account/withdrawals", {
			headers: await sessionHeader(payer.address),
			json: { amount: "1.5" },
		});
		expect(bad.status).toBe(400);
		expect((await callGateway("/v1/account/withdrawals", { json: { amount: "1" } })).status).toBe(401);
	});
});
