import { env } from "cloudflare:test";
import { type Hex, keccak256, parseEther, parseGwei, stringToHex } from "viem";
import { describe, expect, it } from "vitest";
import { revenueVaultAbi } from "../../lib/chain/abis.ts";
import { epochRow, insertWithdrawal, LeaseLost } from "../../lib/db/chain.ts";
import { runSettler } from "../../workers/settler/settler.ts";
import { db } from "../helpers/fixtures.ts";
import { callGateway } from "../helpers/gateway.ts";
import { fundedPayer, isolatedNet, ledger, pacaOf, publicClient, sessionHeader, settlerEnv, testClient } from "./helpers.ts";
import {
	EPOCH_MS,
	endNewerRun,
	fundVault,
	killedAfterBroadcast,
	modelWithUsage,
	settledEvents,
	settledOnChain,
	takeOverLease,
} from "./settler-fixtures.ts";

// A node of its own: blocks are mined here only when a test says so (anvil mines one per
// transaction, none otherwise), so a transaction's depth is known, and snapshot/revert stands
// for a reorg of the newest blocks. The settler records a settle or a payment as final only
// CONFIRMATIONS (here 2) blocks deep: head - block >= 2.

const net = () => isolatedNet("confirmations");
const VARS = { CONFIRMATIONS: "2", RECEIPT_WAIT_MS: "2000", REPLACE_AFTER_SECONDS: "60" };

const client = () => publicClient(net());
const anvil = () => testClient(net());
const vault = () => ({ address: net().addresses.revenueVault, abi: revenueVaultAbi }) as const;
const settlerNonce = (blockTag: "latest" | "pending") =>
	client().getTransactionCount({ address: net().addresses.settler, blockTag });

async function requestWithdrawal(payer: string, amount: bigint): Promise<Hex> {
	const res = await callGateway("/v1/account/withdrawals", {
		headers: await sessionHeader(payer),
		json: { amount: amount.toString() },
	});
	expect(res.status).toBe(201);
	return (res.json() as { id: Hex }).id;
}

function withdrawal(id: string) {
	return env.DB.prepare("SELECT state, tx_hash, nonce FROM withdrawals WHERE id = ?")
		.bind(id)
		.first<{ state: string; tx_hash: string | null; nonce: number | null }>();
}

const paidOnChain = (id: Hex) => client().readContract({ ...vault(), functionName: "withdrawalPaid", args: [id] });

async function paymentsOf(id: Hex) {
	return client().getContractEvents({ ...vault(), eventName: "WithdrawalPaid", args: { withdrawalId: id }, fromBlock: 0n });
}

// The tests run in order on one node and one D1.
describe("settler: a transaction is final only CONFIRMATIONS blocks deep", () => {
	it("keeps a mined withdrawal sent until its payment is CONFIRMATIONS deep, sending nothing for it meanwhile", async () => {
		const payer = await fundedPayer(net(), parseEther("6"));
		const ids = [
			await requestWithdrawal(payer.address, parseEther("2")),
			await requestWithdrawal(payer.address, parseEther("4")),
		];
		const before = await pacaOf(net(), payer.address);
		const now = Date.now();

		// Both payments are mined, in two blocks (the second is not held back by the first being
		// shallow), and neither is recorded paid.
		const first = await runSettler(settlerEnv(net(), VARS), now);
		expect(first.withdrawalsPaid).toBe(0);
		expect(first.withdrawalPending).toBeNull();
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("6"));
		const sent = await Promise.all(ids.map(withdrawal));
		for (const [i, id] of ids.entries()) {
			expect(await paidOnChain(id)).toBe(true);
			expect(sent[i]?.state).toBe("sent");
		}
		const nonce = await settlerNonce("pending");

		// Long after REPLACE_AFTER_SECONDS, at the same depth: still sent, nothing replaced or sent again.
		const second = await runSettler(settlerEnv(net(), VARS), now + 10 * 60_000);
		expect(second.withdrawalsPaid).toBe(0);
		expect(second.withdrawalPending).toBeNull();
		expect(await Promise.all(ids.map(withdrawal))).toEqual(sent);
		expect(await settlerNonce("pending")).toBe(nonce);

		// One block more: the first payment is 2 deep, the second 1.
		await anvil().mine({ blocks: 1 });
		const third = await runSettler(settlerEnv(net(), VARS), now + 11 * 60_000);
		expect(third.withdrawalsPaid).toBe(1);
		expect((await withdrawal(ids[0] as Hex))?.state).toBe("paid");
		expect((await withdrawal(ids[1] as Hex))?.state).toBe("sent");

		await anvil().mine({ blocks: 1 });
		const fourth = await runSettler(settlerEnv(net(), VARS), now + 12 * 60_000);
		expect(fourth.withdrawalsPaid).toBe(1);
		expect(await Promise.all(ids.map(async (id) => (await withdrawal(id))?.state))).toEqual(["paid", "paid"]);
		expect(await Promise.all(ids.map(async (id) => (await withdrawal(id))?.tx_hash))).toEqual(sent.map((w) => w?.tx_hash));
		expect(await settlerNonce("pending")).toBe(nonce);
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("6"));
	});

	it("pays a withdrawal again, once, when a reorg drops its payment before it was deep and D1 has no signed bytes of it", async () => {
		const payer = await fundedPayer(net(), parseEther("3"));
		const id = await requestWithdrawal(payer.address, parseEther("3"));
		const before = await pacaOf(net(), payer.address);
		const now = Date.now();
		const snapshot = await anvil().snapshot();

		const first = await runSettler(settlerEnv(net(), VARS), now);
		expect(first.withdrawalsPaid).toBe(0);
		// As a payment sent before migration 0003 is kept: no signed bytes to rebroadcast.
		await env.DB.prepare("UPDATE withdrawals SET raw_tx = NULL WHERE id = ?").bind(id).run();
		const sent = await withdrawal(id);
		expect(sent?.state).toBe("sent");
		expect(await paidOnChain(id)).toBe(true);

		// The reorg: the payment's block leaves the chain (and the node forgets the transaction).
		await anvil().revert({ id: snapshot });
		expect(await paidOnChain(id)).toBe(false);
		expect(await settlerNonce("latest")).toBe(sent?.nonce);
		expect(
			await client()
				.getTransactionReceipt({ hash: sent?.tx_hash as Hex })
				.catch(() => null),
		).toBeNull();

		// Nothing to rebroadcast: not sent again before REPLACE_AFTER_SECONDS...
		const early = await runSettler(settlerEnv(net(), VARS), now + 1_000);
		expect(early.withdrawalPending).toBe(id);
		expect(await settlerNonce("pending")).toBe(sent?.nonce);

		// ...then, stale, sent again at its nonce: exactly one transaction, which pays the id.
		const second = await runSettler(settlerEnv(net(), VARS), now + 61_000);
		expect(second.withdrawalsPaid).toBe(0);
		expect((await withdrawal(id))?.state).toBe("sent");
		expect(await settlerNonce("pending")).toBe((sent?.nonce ?? -1) + 1);
		expect(await paidOnChain(id)).toBe(true);

		await anvil().mine({ blocks: 2 });
		const third = await runSettler(settlerEnv(net(), VARS), now + 62_000);
		expect(third.withdrawalsPaid).toBe(1);
		expect((await withdrawal(id))?.state).toBe("paid");
		expect(await settlerNonce("pending")).toBe((sent?.nonce ?? -1) + 1);
		expect(await paymentsOf(id)).toHaveLength(1);
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("3"));
	});

	it("confirms an epoch it finds settled on chain only once the Settled log is CONFIRMATIONS deep, sending nothing meanwhile", async () => {
		await fundVault(net());
		const { token, epoch } = await modelWithUsage(net(), 1, parseEther("1"));
		const closeAt = (epoch + 1) * EPOCH_MS + 1_000;

		// The settle is broadcast (and mined), and the run dies before D1 knows: the epoch is prepared.
		let settledBy: Hex | undefined;
		await expect(
			runSettler(settlerEnv(net(), VARS), closeAt, {
				async afterBroadcast(e, hash) {
					settledBy = hash;
					await env.DB.prepare("UPDATE settler_epochs SET state = 'prepared', nonce = NULL, tx_hashes = '[]' WHERE epoch = ?")
						.bind(e)
						.run();
					throw new Error("killed");
				},
			}),
		).rejects.toThrow("killed");
		expect(await settledEvents(net(), epoch)).toHaveLength(1);
		const nonce = await settlerNonce("pending");

		// 0, then 1 block deep: found on chain, left prepared, nothing sent.
		for (const depth of [0, 1]) {
			if (depth > 0) await anvil().mine({ blocks: 1 });
			const run = await runSettler(settlerEnv(net(), VARS), closeAt + depth * 1_000);
			expect(run.confirmed).toEqual([]);
			expect(run.pending).toBe(epoch);
			expect(run.failed).toBeNull();
			expect((await epochRow(db(), epoch))?.state).toBe("prepared");
			expect(await settlerNonce("pending")).toBe(nonce);
		}

		await anvil().mine({ blocks: 1 });
		const done = await runSettler(settlerEnv(net(), VARS), closeAt + 2_000);
		expect(done.confirmed).toEqual([epoch]);
		expect((await epochRow(db(), epoch))?.confirmedTx).toBe(settledBy);
		expect(await settlerNonce("pending")).toBe(nonce);
		expect(await settledOnChain(net(), token)).toBe(parseEther("1"));
	});

	it("settles an epoch again, once, when a reorg drops the settle it found on chain before it was deep", async () => {
		await fundVault(net());
		const { token, epoch } = await modelWithUsage(net(), 1, parseEther("2"), { at: Date.now() + 5 * EPOCH_MS });
		const closeAt = (epoch + 1) * EPOCH_MS + 1_000;
		const snapshot = await anvil().snapshot();

		await expect(runSettler(settlerEnv(net(), VARS), closeAt, killedAfterBroadcast)).rejects.toThrow("killed");
		const found = await runSettler(settlerEnv(net(), VARS), closeAt);
		expect(found.pending).toBe(epoch);
		expect(found.confirmed).toEqual([]);

		// The reorg: the settle leaves the chain; the vault has no such epoch any more.
		await anvil().revert({ id: snapshot });
		expect(await settledEvents(net(), epoch)).toHaveLength(0);
		const nonce = await settlerNonce("latest");

		// Sent again: one settle, still too shallow to record.
		const resent = await runSettler(settlerEnv(net(), VARS), closeAt + 1_000);
		expect(resent.confirmed).toEqual([]);
		expect(resent.pending).toBe(epoch);
		const row = await epochRow(db(), epoch);
		expect(row?.state).toBe("sent");
		expect(row?.nonce).toBe(nonce);
		expect(await settlerNonce("pending")).toBe(nonce + 1);

		await anvil().mine({ blocks: 2 });
		const done = await runSettler(settlerEnv(net(), VARS), closeAt + 2_000);
		expect(done.confirmed).toEqual([epoch]);
		expect(await settlerNonce("pending")).toBe(nonce + 1);
		expect(await settledEvents(net(), epoch)).toHaveLength(1);
		expect(await settledOnChain(net(), token)).toBe(parseEther("2"));
	});

	it("pays queued withdrawals behind a settle that is mined but not yet deep (its nonce is spent)", async () => {
		await fundVault(net());
		const payer = await fundedPayer(net(), parseEther("1"));
		const id = await requestWithdrawal(payer.address, parseEther("1"));
		const { epoch } = await modelWithUsage(net(), 1, parseEther("1"), { at: Date.now() + 10 * EPOCH_MS });
		const nonce = await settlerNonce("pending");

		const run = await runSettler(settlerEnv(net(), VARS), (epoch + 1) * EPOCH_MS + 1_000);
		expect(run.pending).toBe(epoch);
		expect((await epochRow(db(), epoch))?.state).toBe("sent");
		// The settle, then the payment at the next nonce, in the same run.
		expect(await settlerNonce("pending")).toBe(nonce + 2);
		expect(await paidOnChain(id)).toBe(true);
		expect((await withdrawal(id))?.state).toBe("sent");

		await anvil().mine({ blocks: 2 });
		const done = await runSettler(settlerEnv(net(), VARS), (epoch + 1) * EPOCH_MS + 2_000);
		expect(done.confirmed).toEqual([epoch]);
		expect(done.withdrawalsPaid).toBe(1);
		expect((await withdrawal(id))?.state).toBe("paid");
	});

	it("rebroadcasts a withdrawal's payment a reorg dropped at once, from its signed bytes: mined once, paid once", async () => {
		const payer = await fundedPayer(net(), parseEther("3"));
		const id = await requestWithdrawal(payer.address, parseEther("3"));
		const before = await pacaOf(net(), payer.address);
		const now = Date.now();
		const snapshot = await anvil().snapshot();

		await runSettler(settlerEnv(net(), VARS), now);
		const sent = await withdrawal(id);
		expect(sent?.state).toBe("sent");
		const hash = sent?.tx_hash as Hex;
		expect((await client().getTransactionReceipt({ hash })).status).toBe("success");

		// The reorg: the payment's block leaves the chain, and the node forgets the transaction.
		await anvil().revert({ id: snapshot });
		expect(await paidOnChain(id)).toBe(false);
		expect(
			await client()
				.getTransactionReceipt({ hash })
				.catch(() => null),
		).toBeNull();
		expect(
			await client()
				.getTransaction({ hash })
				.catch(() => null),
		).toBeNull();
		expect(await settlerNonce("pending")).toBe(sent?.nonce);

		// One second later, far from REPLACE_AFTER_SECONDS (60): the same bytes go out again and are mined,
		// the one transaction at that nonce.
		const again = await runSettler(settlerEnv(net(), VARS), now + 1_000);
		expect(again.withdrawalPending).toBeNull();
		expect(again.withdrawalsPaid).toBe(0);
		expect((await client().getTransactionReceipt({ hash })).status).toBe("success");
		expect(await withdrawal(id)).toEqual(sent);
		expect(await settlerNonce("pending")).toBe((sent?.nonce ?? -1) + 1);
		expect(await paymentsOf(id)).toHaveLength(1);

		await anvil().mine({ blocks: 2 });
		const done = await runSettler(settlerEnv(net(), VARS), now + 2_000);
		expect(done.withdrawalsPaid).toBe(1);
		expect((await withdrawal(id))?.state).toBe("paid");
		expect((await withdrawal(id))?.tx_hash).toBe(hash);
		expect(await paymentsOf(id)).toHaveLength(1);
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("3"));
	});

	it("replaces a forgotten payment that has waited REPLACE_AFTER, at its nonce with higher fees, instead of rebroadcasting it", async () => {
		const payer = await fundedPayer(net(), parseEther("3"));
		const id = await requestWithdrawal(payer.address, parseEther("3"));
		const before = await pacaOf(net(), payer.address);
		const now = Date.now();
		const snapshot = await anvil().snapshot();

		await runSettler(settlerEnv(net(), VARS), now);
		const sent = await withdrawal(id);
		expect(sent?.state).toBe("sent");
		const tipBefore = (await client().getTransaction({ hash: sent?.tx_hash as Hex })).maxPriorityFeePerGas ?? 0n;
		await anvil().revert({ id: snapshot });
		expect(
			await client()
				.getTransaction({ hash: sent?.tx_hash as Hex })
				.catch(() => null),
		).toBeNull();

		// Stale (REPLACE_AFTER_SECONDS is 60): bytes a busy pool dropped would only be dropped again.
		// Before, they went out unchanged at every run, however long they had waited.
		const replaced = await runSettler(settlerEnv(net(), VARS), now + 61_000);
		expect(replaced.withdrawalPending).toBeNull();
		const after = await withdrawal(id);
		expect(after?.nonce).toBe(sent?.nonce);
		expect(after?.tx_hash).not.toBe(sent?.tx_hash);
		// The replacement's tip is the old one's plus at least the 10 % a node asks of a replacement.
		const tip = await client().getTransaction({ hash: after?.tx_hash as Hex });
		expect(tip.maxPriorityFeePerGas).toBeGreaterThan(tipBefore);
		expect(await settlerNonce("pending")).toBe((sent?.nonce ?? -1) + 1);

		await anvil().mine({ blocks: 2 });
		expect((await runSettler(settlerEnv(net(), VARS), now + 62_000)).withdrawalsPaid).toBe(1);
		expect(await paymentsOf(id)).toHaveLength(1);
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("3"));
	});

	it("sends nothing again once another run has taken its lease: the rebroadcast renews it first", async () => {
		const payer = await fundedPayer(net(), parseEther("1"));
		const id = await requestWithdrawal(payer.address, parseEther("1"));
		const before = await pacaOf(net(), payer.address);
		const now = Date.now();
		const snapshot = await anvil().snapshot();
		await runSettler(settlerEnv(net(), VARS), now);
		const sent = await withdrawal(id);
		const hash = sent?.tx_hash as Hex;
		await anvil().revert({ id: snapshot });

		// The run stalls past its lease while asking the node whether it still knows the payment, and a
		// newer run takes the lease over: the old run must not rebroadcast behind it.
		const fetch = globalThis.fetch;
		let asked = false;
		globalThis.fetch = async (input, init) => {
			const body = typeof init?.body === "string" ? init.body : "";
			if (!asked && body.includes("eth_getTransactionByHash") && body.includes(hash)) {
				asked = true;
				await takeOverLease();
			}
			return fetch(input, init);
		};
		try {
			const stopped = await runSettler(settlerEnv(net(), VARS), now + 1_000).catch((e: unknown) => e);
			expect(asked).toBe(true);
			expect(stopped).toBeInstanceOf(LeaseLost);
		} finally {
			globalThis.fetch = fetch;
		}
		expect(
			await client()
				.getTransaction({ hash })
				.catch(() => null),
		).toBeNull();
		expect(await settlerNonce("pending")).toBe(sent?.nonce);
		expect(await withdrawal(id)).toEqual(sent);

		// The newer run ends; the next run sends the payment's bytes again, and it is paid once.
		await endNewerRun();
		const again = await runSettler(settlerEnv(net(), VARS), now + 2_000);
		expect(again.withdrawalPending).toBeNull();
		expect((await client().getTransactionReceipt({ hash })).status).toBe("success");
		await anvil().mine({ blocks: 2 });
		expect((await runSettler(settlerEnv(net(), VARS), now + 3_000)).withdrawalsPaid).toBe(1);
		expect(await paymentsOf(id)).toHaveLength(1);
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("1"));
	});

	it("after a reorg drops a withdrawal and the settle behind it, gets both mined again in one run", async () => {
		await fundVault(net());
		const payer = await fundedPayer(net(), parseEther("2"));
		const id = await requestWithdrawal(payer.address, parseEther("2"));
		const before = await pacaOf(net(), payer.address);
		const { token, epoch } = await modelWithUsage(net(), 1, parseEther("1"), { at: Date.now() + 20 * EPOCH_MS });
		const closeAt = (epoch + 1) * EPOCH_MS + 1_000;
		const nonce = await settlerNonce("pending");
		const snapshot = await anvil().snapshot();

		// The payment at nonce n (a second before the epoch closes), then the settle at n + 1 behind it
		// (the payment is mined, if shallow): both mined, neither deep.
		const paying = await runSettler(settlerEnv(net(), VARS), closeAt - 2_000);
		expect(paying.pending).toBeNull();
		expect((await withdrawal(id))?.nonce).toBe(nonce);
		const settling = await runSettler(settlerEnv(net(), VARS), closeAt);
		expect(settling.pending).toBe(epoch);
		expect((await epochRow(db(), epoch))?.nonce).toBe(nonce + 1);
		expect(await settlerNonce("latest")).toBe(nonce + 2);

		// The reorg drops both blocks; the node forgets both transactions.
		await anvil().revert({ id: snapshot });
		expect(await settlerNonce("pending")).toBe(nonce);

		// Well before REPLACE_AFTER_SECONDS, one run gets both on chain again: the settle is not left
		// waiting behind a nonce the node no longer has.
		const again = await runSettler(settlerEnv(net(), VARS), closeAt + 1_000);
		expect(again.failed).toBeNull();
		expect(await settlerNonce("latest")).toBe(nonce + 2);
		expect(await paymentsOf(id)).toHaveLength(1);
		expect(await settledEvents(net(), epoch)).toHaveLength(1);

		await anvil().mine({ blocks: 2 });
		const done = await runSettler(settlerEnv(net(), VARS), closeAt + 2_000);
		expect(done.confirmed).toEqual([epoch]);
		expect(done.withdrawalsPaid).toBe(1);
		expect((await withdrawal(id))?.state).toBe("paid");
		expect(await paymentsOf(id)).toHaveLength(1);
		expect(await settledEvents(net(), epoch)).toHaveLength(1);
		expect(await settledOnChain(net(), token)).toBe(parseEther("1"));
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("2"));
	});

	it("rebroadcasting a settle a reorg dropped, first sends the lower-nonce withdrawals it dropped too, in nonce order", async () => {
		await fundVault(net());
		const payer = await fundedPayer(net(), parseEther("3"));
		const ids = [
			await requestWithdrawal(payer.address, parseEther("1")),
			await requestWithdrawal(payer.address, parseEther("2")),
		];
		const before = await pacaOf(net(), payer.address);
		const { token, epoch } = await modelWithUsage(net(), 1, parseEther("1"), { at: Date.now() + 30 * EPOCH_MS });
		const closeAt = (epoch + 1) * EPOCH_MS + 1_000;
		const nonce = await settlerNonce("pending");
		const snapshot = await anvil().snapshot();
		// Three transactions in three blocks: 4 confirmations, so the reorg below drops none that is final.
		const vars = { ...VARS, CONFIRMATIONS: "4" };

		// The payments at nonces n and n + 1 (a second before the epoch closes), then the settle at
		// n + 2: all mined, none deep.
		await runSettler(settlerEnv(net(), vars), closeAt - 2_000);
		expect(await Promise.all(ids.map(async (id) => (await withdrawal(id))?.nonce))).toEqual([nonce, nonce + 1]);
		expect((await runSettler(settlerEnv(net(), vars), closeAt)).pending).toBe(epoch);
		expect((await epochRow(db(), epoch))?.nonce).toBe(nonce + 2);
		expect(await settlerNonce("latest")).toBe(nonce + 3);

		// The reorg drops all three; the node forgets them. Blocks now come only when the test mines one,
		// so the run's wait for the first payment ends with it still pending (as when a block is slow):
		// that payment is rebroadcast, and the run goes on to the settle.
		await anvil().revert({ id: snapshot });
		expect(await settlerNonce("pending")).toBe(nonce);
		await anvil().setAutomine(false);
		try {
			const again = await runSettler(settlerEnv(net(), { ...vars, RECEIPT_WAIT_MS: "200" }), closeAt + 1_000);
			expect(ids).toContain(again.withdrawalPending);
			expect(again.pending).toBe(epoch);
			expect(again.failed).toBeNull();
			// The next block takes all three: the settle is not left behind the second payment's nonce.
			await anvil().mine({ blocks: 1 });
			expect(await settlerNonce("latest")).toBe(nonce + 3);
		} finally {
			await anvil().setAutomine(true);
		}
		for (const id of ids) expect(await paymentsOf(id)).toHaveLength(1);
		expect(await settledEvents(net(), epoch)).toHaveLength(1);

		await anvil().mine({ blocks: 4 });
		const done = await runSettler(settlerEnv(net(), vars), closeAt + 2_000);
		expect(done.confirmed).toEqual([epoch]);
		expect(done.withdrawalsPaid).toBe(2);
		expect(await Promise.all(ids.map(async (id) => (await withdrawal(id))?.state))).toEqual(["paid", "paid"]);
		for (const id of ids) expect(await paymentsOf(id)).toHaveLength(1);
		expect(await settledEvents(net(), epoch)).toHaveLength(1);
		expect(await settledOnChain(net(), token)).toBe(parseEther("1"));
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("3"));
	});

	it("rebroadcasting a payment a reorg dropped, first sends the settle at the lower nonce it dropped too", async () => {
		await fundVault(net());
		const payer = await fundedPayer(net(), parseEther("1"));
		const id = await requestWithdrawal(payer.address, parseEther("1"));
		const before = await pacaOf(net(), payer.address);
		const { token, epoch } = await modelWithUsage(net(), 1, parseEther("1"), { at: Date.now() + 40 * EPOCH_MS });
		const closeAt = (epoch + 1) * EPOCH_MS + 1_000;
		const nonce = await settlerNonce("pending");
		const snapshot = await anvil().snapshot();

		// The settle at nonce n, then the payment at n + 1 behind it: both mined, neither deep.
		expect((await runSettler(settlerEnv(net(), VARS), closeAt)).pending).toBe(epoch);
		expect((await withdrawal(id))?.nonce).toBe(nonce + 1);
		expect(await settlerNonce("latest")).toBe(nonce + 2);

		// The reorg drops both. Withdrawals are advanced first in a run: the payment's rebroadcast sends
		// the settle's bytes before its own, so it is mined at once rather than left pending behind n
		// (which would hold back every other withdrawal of the run).
		await anvil().revert({ id: snapshot });
		expect(await settlerNonce("pending")).toBe(nonce);
		const again = await runSettler(settlerEnv(net(), VARS), closeAt + 1_000);
		expect(again.withdrawalPending).toBeNull();
		expect(again.pending).toBe(epoch);
		expect(await settlerNonce("latest")).toBe(nonce + 2);

		await anvil().mine({ blocks: 2 });
		const done = await runSettler(settlerEnv(net(), VARS), closeAt + 2_000);
		expect(done.confirmed).toEqual([epoch]);
		expect(done.withdrawalsPaid).toBe(1);
		expect(await paymentsOf(id)).toHaveLength(1);
		expect(await settledEvents(net(), epoch)).toHaveLength(1);
		expect(await settledOnChain(net(), token)).toBe(parseEther("1"));
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("1"));
	});

	it("advances sent withdrawals in nonce order: a stale payment at a lower nonce than an earlier request's is replaced first", async () => {
		const payer = await fundedPayer(net(), parseEther("3"));
		const before = await pacaOf(net(), payer.address);
		const now = Date.now();
		// The first request's D1 row is written, and its ledger lock lands only after the second request was
		// paid (the gateway was slow between the two): its payment takes the nonce after the second's.
		const first = keccak256(stringToHex(`test-withdrawal:${crypto.randomUUID()}`));
		await insertWithdrawal(db(), {
			id: first,
			payer: payer.address,
			amount: parseEther("1"),
			state: "requested",
			txHash: null,
			requestedAt: now - 1_000,
			paidAt: null,
		});
		const second = await requestWithdrawal(payer.address, parseEther("2"));
		const nonce = await settlerNonce("pending");
		const snapshot = await anvil().snapshot();

		await runSettler(settlerEnv(net(), VARS), now);
		expect((await withdrawal(second))?.nonce).toBe(nonce);
		expect((await withdrawal(first))?.state).toBe("requested");
		expect((await ledger(payer.address).lockWithdrawal(first, parseEther("1"))).ok).toBe(true);
		await runSettler(settlerEnv(net(), VARS), now + 1_000);
		expect((await withdrawal(first))?.nonce).toBe(nonce + 1);

		// The reorg drops both payments, and the base fee rises far above what either offers: their bytes
		// can no longer be mined, so each must be replaced at its nonce with higher fees.
		await anvil().revert({ id: snapshot });
		await anvil().setNextBlockBaseFeePerGas({ baseFeePerGas: parseGwei("500") });
		await anvil().mine({ blocks: 1 });
		try {
			// Both stale. The second request's payment, at nonce n, is replaced first and mined, then the
			// first's at n + 1. In request order the first's was looked at first: replaced, it stayed pending
			// behind n, and the run stopped there, every run, never replacing the payment at n.
			const run = await runSettler(settlerEnv(net(), { ...VARS, RECEIPT_WAIT_MS: "500" }), now + 61_000);
			expect(run.withdrawalPending).toBeNull();
			expect(await settlerNonce("latest")).toBe(nonce + 2);
			expect(await Promise.all([first, second].map(async (id) => (await withdrawal(id))?.nonce))).toEqual([nonce + 1, nonce]);
		} finally {
			await anvil().setNextBlockBaseFeePerGas({ baseFeePerGas: parseGwei("1") });
			await anvil().mine({ blocks: 1 });
		}

		await anvil().mine({ blocks: 2 });
		const done = await runSettler(settlerEnv(net(), VARS), now + 62_000);
		expect(done.withdrawalsPaid).toBe(2);
		for (const id of [first, second]) {
			expect((await withdrawal(id))?.state).toBe("paid");
			expect(await paymentsOf(id)).toHaveLength(1);
		}
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("3"));
	});
});
