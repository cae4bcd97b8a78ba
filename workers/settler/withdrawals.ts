import { encodeFunctionData, getAddress, type Hex } from "viem";
import { revenueVaultAbi } from "../../lib/chain/abis.ts";
import { pendingWithdrawals, updateWithdrawal, type WithdrawalRow } from "../../lib/db/chain.ts";
import type { Env } from "./env.ts";
import type { SettlerContext } from "./epoch.ts";
import { signTx } from "./transactions.ts";

// Queued withdrawals of unused credit (requested through the gateway, which
// locks the amount in the payer's AccountLedger first). For each one: if the
// vault already paid its id, record it; otherwise check the ledger lock and
// send RevenueVault.payWithdrawal(payer, amount, id). The vault pays an id at
// most once, so resending after a crash, or a replacement racing the original,
// can never pay twice; the D1 row only avoids needless transactions. One
// transaction at a time, so a stuck one never leaves a nonce gap behind it.

/**
 * Requests whose ledger lock never appeared (the gateway stopped in between), or is of
 * another amount, are refused after this long.
 */
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
	const markPaid = async (txHash: string | null) => {
		await updateWithdrawal(db, w.id, { state: "paid", paidAt: ctx.now, ...(txHash ? { txHash } : {}) });
		return "paid" as const;
	};
	if (await client.readContract({ address: vault, abi: revenueVaultAbi, functionName: "withdrawalPaid", args: [w.id as Hex] })) {
		return markPaid(null);
	}

	let replace: { nonce: number; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } | undefined;
	if (w.state === "sent" && w.txHash && w.nonce !== null) {
		const receipt = await client.getTransactionReceipt({ hash: w.txHash as Hex }).catch(() => null);
		if (receipt?.status === "success") return markPaid(w.txHash);
		const latestNonce = await client.getTransactionCount({ address: ctx.account.address, blockTag: "latest" });
		if (!receipt && latestNonce <= w.nonce) {
			// Still pending: leave it, or replace it once it has waited too long.
			const stale = w.sentAt !== null && ctx.now - w.sentAt >= ctx.settler.replaceAfterMs;
			if (!stale || w.maxFeePerGas === null || w.maxPriorityFeePerGas === null) return "pending";
			replace = { nonce: w.nonce, maxFeePerGas: w.maxFeePerGas, maxPriorityFeePerGas: w.maxPriorityFeePerGas };
		}
		// Otherwise it reverted, or its nonce went to another transaction: send anew below.
	}

	const lock = await env.LEDGERS.withdrawalLock(w.payer, w.id);
	if (!lock || lock.amount !== w.amount) {
		if (ctx.now - w.requestedAt > ORPHAN_AFTER_MS) {
			// Refused in the ledger first: it releases a lock of another amount (unpaid: the vault
			// was asked above) and no lock can be taken for this id afterwards, so refusing the row
			// never strands credit. A matching lock that appeared meanwhile is paid on the next run.
			const { refused, released } = await env.LEDGERS.refuseWithdrawal(w.payer, w.id, w.amount);
			if (refused) {
				console.warn(
					`withdrawal ${w.id}: no matching ledger lock; refused${released > 0n ? `, ${released} base units released` : ""}`,
				);
				await updateWithdrawal(db, w.id, { state: "refused" });
			}
		}
		return "skipped";
	}

	const data = encodeFunctionData({
		abi: revenueVaultAbi,
		functionName: "payWithdrawal",
		args: [getAddress(w.payer), w.amount, w.id as Hex],
	});
	const tx = await signTx(ctx, { to: vault, data, ...(replace ? { replace } : {}) });
	await updateWithdrawal(db, w.id, {
		state: "sent",
		nonce: tx.nonce,
		txHash: tx.hash,
		maxFeePerGas: tx.maxFeePerGas,
		maxPriorityFeePerGas: tx.maxPriorityFeePerGas,
		sentAt: ctx.now,
	});
	await client.sendRawTransaction({ serializedTransaction: tx.raw });
	const deadline = Date.now() + ctx.settler.receiptWaitMs;
	for (;;) {
		const receipt = await client.getTransactionReceipt({ hash: tx.hash }).catch(() => null);
		if (receipt?.status === "success") return markPaid(tx.hash);
		if (receipt || Date.now() >= deadline) return "pending";
		await new Promise((r) => setTimeout(r, 250));
	}
}
