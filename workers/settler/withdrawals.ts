import { encodeFunctionData, getAddress, type Hex, keccak256 } from "viem";
import { revenueVaultAbi } from "../../lib/chain/abis.ts";
import { pendingWithdrawals, runBatch, updateWithdrawal, type WithdrawalRow } from "../../lib/db/chain.ts";
import type { Env } from "./env.ts";
import type { SettlerContext } from "./epoch.ts";

// Queued withdrawals of unused credit (requested through the gateway, which
// locks the amount in the payer's AccountLedger first). For each one: if the
// vault already paid its id, record it; otherwise check the ledger lock and
// send RevenueVault.payWithdrawal(payer, amount, id). The vault pays an id at
// most once, so resending after a crash can never pay twice; the D1 row only
// avoids needless transactions. One transaction at a time, so a stuck one never
// leaves a nonce gap behind it.

/** Requests whose ledger lock never appeared (the gateway stopped in between) are refused after this long. */
const ORPHAN_AFTER_MS = 10 * 60_000;

export async function payWithdrawals(ctx: SettlerContext, env: Env): Promise<number> {
	let paid = 0;
	for (const w of await pendingWithdrawals(ctx.db)) {
		const outcome = await advance(ctx, env, w).catch((error: unknown) => {
			console.error(`withdrawal ${w.id}: ${(error as Error).message}`);
			return "skipped" as const;
		});
		if (outcome === "paid") paid++;
		if (outcome === "pending") break;
	}
	return paid;
}

async function advance(ctx: SettlerContext, env: Env, w: WithdrawalRow): Promise<"paid" | "pending" | "skipped"> {
	const { client, db } = ctx;
	const vault = ctx.chain.addresses.revenueVault;
	const isPaid = () =>
		client.readContract({ address: vault, abi: revenueVaultAbi, functionName: "withdrawalPaid", args: [w.id as Hex] });
	const markPaid = async (txHash: string | null) => {
		await runBatch(db, [updateWithdrawal(db, w.id, { state: "paid", paidAt: ctx.now, ...(txHash ? { txHash } : {}) })]);
		return "paid" as const;
	};

	if (await isPaid()) return markPaid(null);
	if (w.state === "sent" && w.txHash) {
		const receipt = await client.getTransactionReceipt({ hash: w.txHash as Hex }).catch(() => null);
		if (receipt?.status === "success") return markPaid(w.txHash);
		const latestNonce = await client.getTransactionCount({ address: ctx.account.address, blockTag: "latest" });
		if (!receipt && w.nonce !== null && latestNonce <= w.nonce) return "pending";
		// Reverted, or its nonce went to another transaction: send again below.
	}

	const lock = await env.ACCOUNT_LEDGER.getByName(w.payer).withdrawalLock(w.id);
	if (!lock || lock.amount !== w.amount) {
		if (ctx.now - w.requestedAt > ORPHAN_AFTER_MS) {
			console.warn(`withdrawal ${w.id}: no matching ledger lock; refused`);
			await runBatch(db, [updateWithdrawal(db, w.id, { state: "refused" })]);
		}
		return "skipped";
	}

	const data = encodeFunctionData({
		abi: revenueVaultAbi,
		functionName: "payWithdrawal",
		args: [getAddress(w.payer), w.amount, w.id as Hex],
	});
	// Estimating runs the call: a withdrawal the vault would refuse (paused, escrow short) throws here, before any record.
	const gas = await client.estimateGas({ account: ctx.account.address, to: vault, data });
	const nonce = await client.getTransactionCount({ address: ctx.account.address, blockTag: "pending" });
	const fees = await client.estimateFeesPerGas();
	const raw = await ctx.account.signTransaction({
		type: "eip1559",
		chainId: ctx.chain.chainId,
		to: vault,
		data,
		nonce,
		gas: (gas * 12n) / 10n,
		maxFeePerGas: fees.maxFeePerGas,
		maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
	});
	const hash = keccak256(raw);
	await runBatch(db, [updateWithdrawal(db, w.id, { state: "sent", nonce, txHash: hash })]);
	await client.sendRawTransaction({ serializedTransaction: raw });
	const deadline = Date.now() + ctx.settler.receiptWaitMs;
	for (;;) {
		const receipt = await client.getTransactionReceipt({ hash }).catch(() => null);
		if (receipt?.status === "success") return markPaid(hash);
		if (receipt || Date.now() >= deadline) return "pending";
		await new Promise((r) => setTimeout(r, 250));
	}
}
