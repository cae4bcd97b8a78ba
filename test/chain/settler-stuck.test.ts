import { env } from "cloudflare:test";
import { type Hex, parseEther, parseGwei } from "viem";
import { describe, expect, it } from "vitest";
import { revenueVaultAbi } from "../../lib/chain/abis.ts";
import { epochRow } from "../../lib/db/chain.ts";
import { runSettler } from "../../workers/settler/settler.ts";
import { db } from "../helpers/fixtures.ts";
import { callGateway } from "../helpers/gateway.ts";
import {
	fixture,
	fundedPayer,
	isolatedNet,
	pacaOf,
	publicClient,
	sessionHeader,
	settlerEnv,
	testClient,
	walletFor,
} from "./helpers.ts";
import { EPOCH_MS, fundVault, modelWithUsage, settledEvents, settledOnChain } from "./settler-fixtures.ts";

// A node of its own: automine is switched off here.
const net = () => isolatedNet("stuck");

// The tests run in order: each leaves automine on again.
describe("settler: stuck transactions", () => {
	it("replaces a settle stuck below the base fee, at the same nonce, and records the one that was mined", async () => {
		await fundVault(net());
		const { token, epoch } = await modelWithUsage(net(), 1, parseEther("1"));
		const closeAt = (epoch + 1) * EPOCH_MS + 1_000;
		const vars = { RECEIPT_WAIT_MS: "100", REPLACE_AFTER_SECONDS: "60" };
		const anvil = testClient(net());
		await anvil.setAutomine(false);
		try {
			const first = await runSettler(settlerEnv(net(), vars), closeAt);
			expect(first.pending).toBe(epoch);
			// The base fee jumps above what the transaction offers: blocks go by without it.
			await anvil.setNextBlockBaseFeePerGas({ baseFeePerGas: parseGwei("500") });
			await anvil.mine({ blocks: 1 });
			const sent = await epochRow(db(), epoch);
			const [stuckHash] = JSON.parse(sent?.txHashes ?? "[]") as Hex[];
			if (!stuckHash) throw new Error("nothing sent");
			expect(
				await publicClient(net())
					.getTransactionReceipt({ hash: stuckHash })
					.catch(() => null),
			).toBeNull();

			// Not replaced before REPLACE_AFTER_SECONDS...
			await runSettler(settlerEnv(net(), vars), closeAt + 30_000);
			expect(JSON.parse((await epochRow(db(), epoch))?.txHashes ?? "[]")).toHaveLength(1);
			// ...then replaced at the same nonce with higher fees.
			await runSettler(settlerEnv(net(), vars), closeAt + 61_000);
			const replaced = await epochRow(db(), epoch);
			const hashes = JSON.parse(replaced?.txHashes ?? "[]") as Hex[];
			expect(hashes).toHaveLength(2);
			expect(replaced?.nonce).toBe(sent?.nonce);
			expect(replaced?.maxFeePerGas ?? 0n).toBeGreaterThan(sent?.maxFeePerGas ?? 0n);

			await anvil.mine({ blocks: 1 });
			const done = await runSettler(settlerEnv(net(), vars), closeAt + 62_000);
			expect(done.confirmed).toEqual([epoch]);
			expect((await epochRow(db(), epoch))?.confirmedTx).toBe(hashes[1]);
			expect(await settledEvents(net(), epoch)).toHaveLength(1);
			expect(await settledOnChain(net(), token)).toBe(parseEther("1"));
		} finally {
			await anvil.setAutomine(true);
		}
	});

	it("replaces a withdrawal stuck below the base fee and pays it once", async () => {
		const payer = await fundedPayer(net(), parseEther("5"));
		const res = await callGateway("/v1/account/withdrawals", {
			headers: await sessionHeader(payer.address),
			json: { amount: parseEther("5").toString() },
		});
		const { id } = res.json() as { id: string };
		const before = await pacaOf(net(), payer.address);
		const vars = { RECEIPT_WAIT_MS: "100", REPLACE_AFTER_SECONDS: "60" };
		const now = Date.now();
		const anvil = testClient(net());
		await anvil.setAutomine(false);
		try {
			await runSettler(settlerEnv(net(), vars), now);
			await anvil.setNextBlockBaseFeePerGas({ baseFeePerGas: parseGwei("800") });
			await anvil.mine({ blocks: 1 });
			const first = await env.DB.prepare("SELECT state, tx_hash, nonce FROM withdrawals WHERE id = ?")
				.bind(id)
				.first<{ state: string; tx_hash: string; nonce: number }>();
			expect(first?.state).toBe("sent");

			await runSettler(settlerEnv(net(), vars), now + 61_000);
			const second = await env.DB.prepare("SELECT tx_hash, nonce FROM withdrawals WHERE id = ?")
				.bind(id)
				.first<{ tx_hash: string; nonce: number }>();
			expect(second?.tx_hash).not.toBe(first?.tx_hash);
			expect(second?.nonce).toBe(first?.nonce);

			await anvil.mine({ blocks: 1 });
			const done = await runSettler(settlerEnv(net(), vars), now + 62_000);
			expect(done.withdrawalsPaid).toBe(1);
			expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("5"));
		} finally {
			await anvil.setAutomine(true);
		}
	});
	it("after a settle reverted, sends one new settle (not one per step) and confirms the epoch once", async () => {
		await fundVault(net());
		// An epoch of its own, after the one the first test settled.
		const { token, epoch } = await modelWithUsage(net(), 1, parseEther("2"), { at: Date.now() + 5 * EPOCH_MS });
		const closeAt = (epoch + 1) * EPOCH_MS + 1_000;
		const vars = { RECEIPT_WAIT_MS: "100", REPLACE_AFTER_SECONDS: "600" };
		const client = publicClient(net());
		const admin = walletFor(net(), fixture().adminKey);
		const vault = { address: net().addresses.revenueVault, abi: revenueVaultAbi } as const;
		const settler = net().addresses.settler;
		const pendingNonce = () => client.getTransactionCount({ address: settler, blockTag: "pending" });
		const anvil = testClient(net());
		await anvil.setAutomine(false);
		try {
			const first = await runSettler(settlerEnv(net(), vars), closeAt);
			expect(first.pending).toBe(epoch);
			const [h1] = JSON.parse((await epochRow(db(), epoch))?.txHashes ?? "[]") as Hex[];
			if (!h1) throw new Error("nothing sent");

			// The vault is paused while the settle waits (the pause pays more, so it goes first in
			// the block): the settle is mined and reverts, using its nonce. Then the vault is unpaused.
			await admin.writeContract({
				...vault,
				functionName: "pause",
				maxFeePerGas: parseGwei("2000"),
				maxPriorityFeePerGas: parseGwei("100"),
			});
			await anvil.mine({ blocks: 1 });
			expect((await client.getTransactionReceipt({ hash: h1 })).status).toBe("reverted");
			expect(await client.readContract({ ...vault, functionName: "paused" })).toBe(true);
			await admin.writeContract({ ...vault, functionName: "unpause" });
			await anvil.mine({ blocks: 1 });
			expect(await client.readContract({ ...vault, functionName: "paused" })).toBe(false);

			// One run sends exactly one new settle, at the next nonce, and waits for it.
			const nonceBefore = await pendingNonce();
			const resent = await runSettler(settlerEnv(net(), vars), closeAt + 1_000);
			expect(await pendingNonce()).toBe(nonceBefore + 1);
			expect(resent.pending).toBe(epoch);
			const row = await epochRow(db(), epoch);
			expect(row?.state).toBe("sent");
			expect(row?.nonce).toBe(nonceBefore);
			const hashes = JSON.parse(row?.txHashes ?? "[]") as Hex[];
			expect(hashes).not.toContain(h1);
			expect(hashes).toHaveLength(1);

			await anvil.mine({ blocks: 1 });
			const done = await runSettler(settlerEnv(net(), vars), closeAt + 2_000);
			expect(done.confirmed).toEqual([epoch]);
			expect((await epochRow(db(), epoch))?.confirmedTx).toBe(hashes[0]);
			expect(await settledEvents(net(), epoch)).toHaveLength(1);
			expect(await settledOnChain(net(), token)).toBe(parseEther("2"));
		} finally {
			if (await client.readContract({ ...vault, functionName: "paused" })) {
				await admin.writeContract({ ...vault, functionName: "unpause" });
				await anvil.mine({ blocks: 1 });
			}
			await anvil.setAutomine(true);
		}
	});
	it("after a settle was replaced at the same nonce, records the original when it is the one mined", async () => {
		await fundVault(net());
		const { token, epoch } = await modelWithUsage(net(), 1, parseEther("3"), { at: Date.now() + 10 * EPOCH_MS });
		const closeAt = (epoch + 1) * EPOCH_MS + 1_000;
		const vars = { RECEIPT_WAIT_MS: "100", REPLACE_AFTER_SECONDS: "60" };
		const client = publicClient(net());
		const anvil = testClient(net());
		await anvil.setAutomine(false);
		try {
			expect((await runSettler(settlerEnv(net(), vars), closeAt)).pending).toBe(epoch);
			const sent = await epochRow(db(), epoch);
			const [original] = JSON.parse(sent?.txHashes ?? "[]") as Hex[];
			if (!original || !sent?.rawTx) throw new Error("nothing sent");
			await anvil.setNextBlockBaseFeePerGas({ baseFeePerGas: parseGwei("500") });
			await anvil.mine({ blocks: 1 });
			await runSettler(settlerEnv(net(), vars), closeAt + 61_000);
			const replaced = await epochRow(db(), epoch);
			const hashes = JSON.parse(replaced?.txHashes ?? "[]") as Hex[];
			expect(hashes).toEqual([original, expect.any(String)]);
			expect(replaced?.nonce).toBe(sent.nonce);

			// The node loses the replacement and mines the original after all.
			await anvil.dropTransaction({ hash: hashes[1] as Hex });
			await anvil.setNextBlockBaseFeePerGas({ baseFeePerGas: 1n });
			await client.sendRawTransaction({ serializedTransaction: sent.rawTx as Hex });
			await anvil.mine({ blocks: 1 });
			expect((await client.getTransactionReceipt({ hash: original })).status).toBe("success");

			const done = await runSettler(settlerEnv(net(), vars), closeAt + 62_000);
			expect(done.confirmed).toEqual([epoch]);
			expect((await epochRow(db(), epoch))?.confirmedTx).toBe(original);
			expect(await settledEvents(net(), epoch)).toHaveLength(1);
			expect(await settledOnChain(net(), token)).toBe(parseEther("3"));
		} finally {
			await anvil.setAutomine(true);
		}
	});
	it("sends no settle behind a pending withdrawal: advances the withdrawal first, then settles once it is paid", async () => {
		await fundVault(net());
		const payer = await fundedPayer(net(), parseEther("4"));
		const res = await callGateway("/v1/account/withdrawals", {
			headers: await sessionHeader(payer.address),
			json: { amount: parseEther("4").toString() },
		});
		const { id } = res.json() as { id: string };
		const before = await pacaOf(net(), payer.address);
		// Usage of an epoch that has not closed when the withdrawal is sent, and has at the next run.
		const now = Date.now();
		const { token, epoch } = await modelWithUsage(net(), 1, parseEther("4"), { at: now + 15 * EPOCH_MS });
		const closeAt = (epoch + 1) * EPOCH_MS + 1_000;
		const vars = { RECEIPT_WAIT_MS: "100", REPLACE_AFTER_SECONDS: "60" };
		const client = publicClient(net());
		const settler = net().addresses.settler;
		const minedNonce = () => client.getTransactionCount({ address: settler, blockTag: "latest" });
		const withdrawal = () =>
			env.DB.prepare("SELECT state, tx_hash, nonce FROM withdrawals WHERE id = ?")
				.bind(id)
				.first<{ state: string; tx_hash: string; nonce: number }>();
		const anvil = testClient(net());
		await anvil.setAutomine(false);
		try {
			// The withdrawal is sent, and stays pending below a risen base fee.
			const first = await runSettler(settlerEnv(net(), vars), now);
			expect(first.pending).toBeNull();
			await anvil.setNextBlockBaseFeePerGas({ baseFeePerGas: parseGwei("800") });
			await anvil.mine({ blocks: 1 });
			const sent = await withdrawal();
			expect(sent?.state).toBe("sent");
			expect(await client.getTransactionReceipt({ hash: sent?.tx_hash as Hex }).catch(() => null)).toBeNull();
			const nonce = sent?.nonce ?? -1;
			expect(await minedNonce()).toBe(nonce);

			// The epoch has closed: the run replaces the stale withdrawal at its nonce and sends no
			// settle, which would take the next nonce and could not be mined before it.
			const blocked = await runSettler(settlerEnv(net(), vars), closeAt);
			expect(blocked.withdrawalPending).toBe(id);
			expect(blocked.pending).toBeNull();
			expect(blocked.failed).toBeNull();
			expect((await epochRow(db(), epoch))?.state ?? null).not.toBe("sent");
			const replaced = await withdrawal();
			expect(replaced?.tx_hash).not.toBe(sent?.tx_hash);
			expect(replaced?.nonce).toBe(nonce);

			// Only the replacement is mined (no settle was out): the next run records the
			// withdrawal, then sends the settle at the next nonce.
			await anvil.mine({ blocks: 1 });
			expect((await client.getTransactionReceipt({ hash: replaced?.tx_hash as Hex })).status).toBe("success");
			expect(await minedNonce()).toBe(nonce + 1);
			const resumed = await runSettler(settlerEnv(net(), vars), closeAt + 1_000);
			expect(resumed.withdrawalsPaid).toBe(1);
			expect(resumed.withdrawalPending).toBeNull();
			expect(resumed.pending).toBe(epoch);
			expect((await epochRow(db(), epoch))?.nonce).toBe(nonce + 1);

			await anvil.mine({ blocks: 1 });
			expect(await minedNonce()).toBe(nonce + 2);
			const done = await runSettler(settlerEnv(net(), vars), closeAt + 2_000);
			expect(done.confirmed).toEqual([epoch]);
			expect(done.withdrawalsPaid).toBe(0);
			expect((await withdrawal())?.state).toBe("paid");
			expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("4"));
			expect(await settledEvents(net(), epoch)).toHaveLength(1);
			expect(await settledOnChain(net(), token)).toBe(parseEther("4"));
		} finally {
			await anvil.setAutomine(true);
		}
	});
});
