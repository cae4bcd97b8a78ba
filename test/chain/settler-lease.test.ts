import { env } from "cloudflare:test";
import { parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { epochRow, LeaseLost, withdrawalById } from "../../lib/db/chain.ts";
import type { Env as SettlerEnv } from "../../workers/settler/env.ts";
import { runSettler } from "../../workers/settler/settler.ts";
import { db } from "../helpers/fixtures.ts";
import { callGateway } from "../helpers/gateway.ts";
import { deployment, fundedPayer, pacaOf, publicClient, sessionHeader, settlerEnv } from "./helpers.ts";
import {
	EPOCH_MS,
	endNewerRun,
	fundVault,
	modelWithUsage,
	settledEvents,
	settledOnChain,
	takeOverLease,
} from "./settler-fixtures.ts";

// A run that outlives its lease (10 minutes: a hung RPC call, a slow receipt) is presumed dead
// and another run takes the lease over. These tests take it over mid-run and check that the
// old run then stops: no further transaction, no D1 write behind the new run. The settler's
// state lives in this file's D1; the tests run in order on one deployment.

const net = () => deployment("settler-lease");

/** Transactions the deployment's settler account has sent (mined or pending). */
function settlerTransactions() {
	return publicClient(net()).getTransactionCount({ address: net().addresses.settler, blockTag: "pending" });
}

async function requestWithdrawal(payer: string, amount: bigint): Promise<string> {
	const res = await callGateway("/v1/account/withdrawals", {
		headers: await sessionHeader(payer),
		json: { amount: amount.toString() },
	});
	expect(res.status).toBe(201);
	return (res.json() as { id: string }).id;
}

describe("settler: a run taken over by another", () => {
	it("stops after its settle is broadcast: no second settle, no withdrawal, and the epoch is left to the new run", async () => {
		await fundVault(net());
		const early = await modelWithUsage(net(), 2, parseEther("0.3"));
		const later = await modelWithUsage(net(), 1, parseEther("0.1"), { at: Date.now() + 3 * EPOCH_MS });
		const payer = await fundedPayer(net(), parseEther("2"));
		const id = await requestWithdrawal(payer.address, parseEther("2"));
		const closeAt = (later.epoch + 1) * EPOCH_MS + 1_000;
		const sentBefore = await settlerTransactions();

		// The first settle is out when the run stalls past its lease and a newer run takes it.
		const stopped = await runSettler(settlerEnv(net()), closeAt, { afterBroadcast: takeOverLease }).catch((e: unknown) => e);
		expect(await settlerTransactions()).toBe(sentBefore + 1);
		// Mined, but not recorded as confirmed by the old run: that write is the new run's.
		expect(await settledEvents(net(), early.epoch)).toHaveLength(1);
		expect((await epochRow(db(), early.epoch))?.state).toBe("sent");
		expect(await epochRow(db(), later.epoch)).toBeUndefined();
		expect((await withdrawalById(db(), id))?.state).toBe("requested");
		expect(stopped).toBeInstanceOf(LeaseLost);
		// The newer run's lease is left to it.
		expect(await env.DB.prepare("SELECT holder FROM job_leases WHERE name = 'settler'").first("holder")).toBe("newer-run");

		await endNewerRun();
		const before = await pacaOf(net(), payer.address);
		const next = await runSettler(settlerEnv(net()), closeAt);
		expect(next.confirmed).toEqual([early.epoch, later.epoch]);
		expect(next.withdrawalsPaid).toBe(1);
		expect(await settledEvents(net(), early.epoch)).toHaveLength(1);
		expect(await settledOnChain(net(), early.token)).toBe(parseEther("0.6"));
		expect(await settledOnChain(net(), later.token)).toBe(parseEther("0.1"));
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("2"));
		expect(await settlerTransactions()).toBe(sentBefore + 3);
	});

	it("stops before the next withdrawal's transaction when taken over while reading its ledger lock", async () => {
		const first = await fundedPayer(net(), parseEther("1"));
		const second = await fundedPayer(net(), parseEther("3"));
		const firstId = await requestWithdrawal(first.address, parseEther("1"));
		// Apart in time, so the settler takes them in this order (oldest request first).
		await new Promise((r) => setTimeout(r, 5));
		const secondId = await requestWithdrawal(second.address, parseEther("3"));
		const firstBefore = await pacaOf(net(), first.address);
		const secondBefore = await pacaOf(net(), second.address);
		const sentBefore = await settlerTransactions();

		// The ledger's answer for the second withdrawal comes back after the lease was taken over.
		const base = settlerEnv(net()) as SettlerEnv;
		const slowLedger: SettlerEnv = {
			...base,
			LEDGERS: {
				credit: (...args) => base.LEDGERS.credit(...args),
				reverseCredit: (...args) => base.LEDGERS.reverseCredit(...args),
				refuseWithdrawal: (...args) => base.LEDGERS.refuseWithdrawal(...args),
				async withdrawalLock(payer, withdrawalId) {
					if (withdrawalId === secondId) await takeOverLease();
					return base.LEDGERS.withdrawalLock(payer, withdrawalId);
				},
			},
		};
		const stopped = await runSettler(slowLedger, Date.now()).catch((e: unknown) => e);
		expect(await settlerTransactions()).toBe(sentBefore + 1);
		expect((await withdrawalById(db(), firstId))?.state).toBe("paid");
		expect((await pacaOf(net(), first.address)) - firstBefore).toBe(parseEther("1"));
		expect((await withdrawalById(db(), secondId))?.state).toBe("requested");
		expect(await pacaOf(net(), second.address)).toBe(secondBefore);
		expect(stopped).toBeInstanceOf(LeaseLost);

		await endNewerRun();
		const next = await runSettler(settlerEnv(net()), Date.now());
		expect(next.withdrawalsPaid).toBe(1);
		expect((await pacaOf(net(), second.address)) - secondBefore).toBe(parseEther("3"));
		expect((await pacaOf(net(), first.address)) - firstBefore).toBe(parseEther("1"));
		expect(await settlerTransactions()).toBe(sentBefore + 2);
	});
});
