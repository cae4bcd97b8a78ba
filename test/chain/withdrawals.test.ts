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

	it("keeps one withdrawal, locked for its own amount, when two requests race with one Idempotency-Key and different amounts", async () => {
		const payer = await fundedPayer(parseEther("200"));
		const request = async (key: string, amount: string) =>
			callGateway("/v1/account/withdrawals", {
				headers: { ...(await sessionHeader(payer.address)), "idempotency-key": key },
				json: { amount: parseEther(amount).toString() },
			});
		let locked = 0n;
		// Both orders, the second request starting at once or a little later, so it meets the
		// first one before its D1 row, between its row and its lock, or after both.
		const rounds = [0, 0, 1, 1, 2, 2, 5, 5];
		for (const [i, delayMs] of rounds.entries()) {
			const key = `race-${i}`;
			const [a, b] = i % 2 === 0 ? ["10", "20"] : ["20", "10"];
			const later = async () => {
				if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
				return request(key, b);
			};
			const results = await Promise.all([request(key, a), later()]);
			expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
			const [won, lost] = results[0].status === 201 ? results : [results[1], results[0]];
			expect(lost.json().error).toMatchObject({ code: "idempotency_conflict", type: "invalid_request_error" });
			const { id, amount } = won.json() as { id: string; amount: string };
			const row = await env.DB.prepare("SELECT amount, state FROM withdrawals WHERE id = ?")
				.bind(id)
				.first<{ amount: string; state: string }>();
			expect(row).toEqual({ amount, state: "requested" });
			expect((await ledger(payer.address).withdrawalLock(id))?.amount).toBe(BigInt(amount));
			locked += BigInt(amount);
			expect((await ledger(payer.address).account()).balance).toBe(parseEther("200") - locked);
		}
		const list = await callGateway("/v1/account/withdrawals", { headers: await sessionHeader(payer.address) });
		expect(list.json().data).toHaveLength(rounds.length);

		const before = await pacaOf(net(), payer.address);
		await runSettler(settlerEnv(net()), Date.now());
		expect((await pacaOf(net(), payer.address)) - before).toBe(locked);
	});

	it("locks once when two requests race with one Idempotency-Key and the same amount", async () => {
		const payer = await fundedPayer(parseEther("10"));
		const init = async () => ({
			headers: { ...(await sessionHeader(payer.address)), "idempotency-key": "same-race" },
			json: { amount: parseEther("3").toString() },
		});
		const results = await Promise.all([
			callGateway("/v1/account/withdrawals", await init()),
			callGateway("/v1/account/withdrawals", await init()),
		]);
		const first = results.find((r) => r.status === 201);
		const other = results.find((r) => r !== first);
		// The other one answers from the first one's withdrawal, or (not locked yet) asks for a retry.
		if (other?.status === 200) expect(other.json().id).toBe(first?.json().id);
		else expect(other?.json().error.code).toBe("idempotency_conflict");
		expect((await ledger(payer.address).account()).available).toBe(parseEther("7"));
		const retry = await callGateway("/v1/account/withdrawals", await init());
		expect(retry.status).toBe(200);
		expect(retry.json().id).toBe(first?.json().id);
	});

	it("refuses a withdrawal the credit does not cover without locking anything, and keeps its key refused", async () => {
		const payer = await fundedPayer(parseEther("1"));
		const init = async (amount: string) => ({
			headers: { ...(await sessionHeader(payer.address)), "idempotency-key": "too-much" },
			json: { amount: parseEther(amount).toString() },
		});
		const res = await callGateway("/v1/account/withdrawals", await init("2"));
		expect(res.status).toBe(402);
		const [row] = (await callGateway("/v1/account/withdrawals", { headers: await sessionHeader(payer.address) })).json().data;
		expect(row).toMatchObject({ status: "refused", amount: parseEther("2").toString() });
		expect(await ledger(payer.address).withdrawalLock(row.id)).toBeNull();
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("1"));
		const retry = await callGateway("/v1/account/withdrawals", await init("2"));
		expect(retry.status).toBe(409);
		expect(retry.json().error.message).toContain("was refused");
		expect(retry.headers.get("x-should-retry")).toBe("false");
	});

	it("refuses a request left without its lock after 10 minutes, releasing a lock of another amount, and no lock comes after", async () => {
		const payer = await fundedPayer(parseEther("10"));
		const old = Date.now() - 11 * 60_000;
		const insert = (id: string, amount: bigint) =>
			env.DB.prepare("INSERT INTO withdrawals (id, payer, amount, state, requested_at) VALUES (?, ?, ?, 'requested', ?)")
				.bind(id, payer.address.toLowerCase(), amount.toString(), old)
				.run();
		const mismatched = `0x${"a1".repeat(32)}`;
		const unlocked = `0x${"a2".repeat(32)}`;
		// As the old race left it: the row says 1, the ledger locked 4 under its id.
		await insert(mismatched, parseEther("1"));
		expect((await ledger(payer.address).lockWithdrawal(mismatched, parseEther("4"))).ok).toBe(true);
		// As a gateway that stopped between the row and the lock left it.
		await insert(unlocked, parseEther("2"));
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("6"));

		const before = await pacaOf(net(), payer.address);
		await runSettler(settlerEnv(net()), Date.now());
		expect(await pacaOf(net(), payer.address)).toBe(before);
		const states = await env.DB.prepare("SELECT id, state FROM withdrawals WHERE id IN (?, ?) ORDER BY id")
			.bind(mismatched, unlocked)
			.all();
		expect(states.results).toEqual([
			{ id: mismatched, state: "refused" },
			{ id: unlocked, state: "refused" },
		]);
		expect(await ledger(payer.address).withdrawalLock(mismatched)).toBeNull();
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("10"));
		// A lock that arrives after the refusal is refused too.
		expect(await ledger(payer.address).lockWithdrawal(unlocked, parseEther("2"))).toMatchObject({
			ok: false,
			conflict: "refused",
		});
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("10"));
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
