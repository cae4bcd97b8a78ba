import { encodeFunctionData, getAddress, type Hex } from "viem";
import { revenueVaultAbi } from "../../lib/chain/abis.ts";
import { LeaseLost, pendingWithdrawals, sentWithdrawals, updateWithdrawal, type WithdrawalRow } from "../../lib/db/chain.ts";
import type { Env } from "./env.ts";
import type { SettlerContext } from "./epoch.ts";
import { firstReceipt, isFinal, rebroadcastIfForgotten, signedByUs, signTx } from "./transactions.ts";

// Queued withdrawals of unused credit (requested through the gateway, which
// locks the amount in the payer's AccountLedger first). For each one: if the
// vault already paid its id, record it; otherwise check the ledger lock and
// send RevenueVault.payWithdrawal(payer, amount, id). The vault pays an id at
// most once, so resending after a crash, or a replacement racing the original,
// can never pay twice; the D1 row only avoids needless transactions. One
// transaction at a time, so a stuck one never leaves a nonce gap behind it.
// "paid" is recorded only once the payment is CONFIRMATIONS deep: until then a
// reorg can drop it, and the row stays "sent" (neither replaced nor sent again:
// its nonce is spent), to be recorded, or paid again if it left the chain, by a
// later run: the same signed bytes at once when the node forgot them (kept in
// the row, like a settle's), at the same nonce, so the rebroadcast and the lost
// payment can never both be mined.

/**
 * Requests whose ledger lock never appeared (the gateway stopped in between), or is of
 * another amount, are refused after this long.
 */
const ORPHAN_AFTER_MS = 10 * 60_000;

export async function payWithdrawals(ctx: SettlerContext, env: Env): Promise<number> {
	return (await advanceEach(ctx, env, await pendingWithdrawals(ctx.db), false)).paid;
}

/**
 * Withdrawals whose transaction is out, advanced at the start of a run, before any settle:
 * recorded once mined CONFIRMATIONS deep, rebroadcast from its signed bytes when the node forgot
 * it, replaced at the same nonce once stale, sent anew when reverted (as payWithdrawals does). Returns how many were paid, and the id of one whose
 * transaction is still pending: a settle sent now would take the nonce after it and could not be
 * mined before it, nor help it along. In nonce order, not request order (a payment sent anew, or one
 * whose lock came late, has a higher nonce than a later request's): the first pending one stops the
 * run, and one at a higher nonce is pending as long as any below it is, so in request order a
 * lower-nonce payment the pool no longer takes (its fees below the base fee) would never be reached
 * to be replaced, and would hold back every transaction for good.
 */
export async function advanceSentWithdrawals(ctx: SettlerContext, env: Env): Promise<{ paid: number; pending: string | null }> {
	return advanceEach(ctx, env, await sentWithdrawals(ctx.db), true);
}

/**
 * Advances `rows` in order, stopping at the first still pending (one transaction at a time); a
 * payment mined but not yet deep ("mined") does not stop it, its nonce being spent. A row whose
 * step fails is skipped, or, with `failedMayBeOut`, counts as pending while its transaction may
 * still be out.
 */
async function advanceEach(
	ctx: SettlerContext,
	env: Env,
	rows: WithdrawalRow[],
	failedMayBeOut: boolean,
): Promise<{ paid: number; pending: string | null }> {
	let paid = 0;
	for (const w of rows) {
		const outcome = await advance(ctx, env, w).catch(async (error: unknown) => {
			// Taken over: the new run pays the rest; this one sends and records nothing more.
			if (error instanceof LeaseLost) throw error;
			console.error(`withdrawal ${w.id}: ${(error as Error).message}`);
			return failedMayBeOut && (await stillOut(ctx, w)) ? ("pending" as const) : ("skipped" as const);
		});
		if (outcome === "paid") paid++;
		if (outcome === "pending") return { paid, pending: w.id };
	}
	return { paid, pending: null };
}

/** After advancing failed: whether the node still holds its transaction at an unused nonce (unknown counts as yes). */
async function stillOut(ctx: SettlerContext, w: WithdrawalRow): Promise<boolean> {
	if (w.nonce === null || !w.txHash) return false;
	try {
		const latest = await ctx.client.getTransactionCount({ address: ctx.account.address, blockTag: "latest" });
		if (latest > w.nonce) return false;
		return (await ctx.client.getTransaction({ hash: w.txHash as Hex }).catch(() => null)) !== null;
	} catch {
		return true;
	}
}

/**
 * One withdrawal's next step: "paid" once recorded, "mined" when paid by a payment not yet
 * CONFIRMATIONS deep (the row stays "sent"), "pending" while its transaction waits to be mined.
 */
async function advance(ctx: SettlerContext, env: Env, w: WithdrawalRow): Promise<"paid" | "mined" | "pending" | "skipped"> {
	const { client, db } = ctx;
	const vault = ctx.chain.addresses.revenueVault;
	const markPaid = async (txHash: string | null) => {
		await ctx.lease.renew();
		await updateWithdrawal(db, w.id, { state: "paid", paidAt: ctx.now, ...(txHash ? { txHash } : {}) });
		return "paid" as const;
	};
	/** Recorded when `block` is deep; until then "mined", and the row stays as it is. */
	const paidIn = async (block: bigint, txHash: string | null) =>
		(await isFinal(ctx, block)) ? markPaid(txHash) : ("mined" as const);
	const paidAt = (blockNumber?: bigint) =>
		client.readContract({
			address: vault,
			abi: revenueVaultAbi,
			functionName: "withdrawalPaid",
			args: [w.id as Hex],
			blockNumber,
		});
	if (await paidAt()) {
		// Paid at the head: final once the vault says so CONFIRMATIONS blocks below it too (whichever
		// transaction paid: the listed one, or one it replaced at the same nonce).
		const deep = (await client.getBlockNumber()) - ctx.chain.confirmations;
		return deep >= 0n && (await paidAt(deep)) ? markPaid(null) : "mined";
	}

	/** Waits up to RECEIPT_WAIT_MS for the payment `hash` to be mined; "pending" if it is not (or reverted: the next run sends anew). */
	const awaitPayment = async (hash: Hex) => {
		const receipt = await firstReceipt(ctx, [hash], ctx.settler.receiptWaitMs);
		return receipt?.status === "success" ? paidIn(receipt.blockNumber, hash) : ("pending" as const);
	};

	let replace: { nonce: number; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } | undefined;
	if (w.state === "sent" && w.txHash && w.nonce !== null) {
		const receipt = await client.getTransactionReceipt({ hash: w.txHash as Hex }).catch(() => null);
		// Mined since the vault was read: recorded once deep, as above.
		if (receipt?.status === "success") return paidIn(receipt.blockNumber, w.txHash);
		const latestNonce = await client.getTransactionCount({ address: ctx.account.address, blockTag: "latest" });
		if (!receipt && latestNonce <= w.nonce && (await signedByUs(ctx, w.rawTx))) {
			// Not mined, its nonce unused. The node may have forgotten it (a reorg dropped its block, a
			// restart): its signed bytes go out again at once, the same nonce and hash, so it is mined at
			// most once, and the run waits for it as after a send; first, any of our transactions at a
			// lower nonce the node forgot too. Once it has waited REPLACE_AFTER, it is replaced instead,
			// at its nonce with higher fees: bytes a busy pool keeps dropping would otherwise go out
			// again, unchanged, every run, and hold up every settle and withdrawal behind them. A row
			// sent before migration 0003 has no bytes: it is replaced once stale.
			const stale = w.sentAt !== null && ctx.now - w.sentAt >= ctx.settler.replaceAfterMs;
			const replacement =
				stale && w.maxFeePerGas !== null && w.maxPriorityFeePerGas !== null
					? { nonce: w.nonce, maxFeePerGas: w.maxFeePerGas, maxPriorityFeePerGas: w.maxPriorityFeePerGas }
					: undefined;
			const raw = replacement ? null : (w.rawTx as Hex | null);
			if (await rebroadcastIfForgotten(ctx, { nonce: w.nonce, raw, what: `withdrawal ${w.id}` }, latestNonce)) {
				return awaitPayment(w.txHash as Hex);
			}
			// Still pending: leave it, or replace it once it has waited too long.
			if (!replacement) return "pending";
			replace = replacement;
		}
		// Otherwise it reverted, or its nonce went to another transaction, or another key signed it (the
		// settler key was rotated since: its nonce is that account's, which this key can neither fill
		// nor replace): send anew below, at once, though that may not be CONFIRMATIONS deep yet. Safe:
		// should a reorg drop the revert (or the old key's payment still be mined), the old payment may
		// be mined besides the new one, but the vault pays an id once (the second of the two pays
		// nothing), and whichever paid is recorded above only once deep.
	}

	const lock = await env.LEDGERS.withdrawalLock(w.payer, w.id);
	if (!lock || lock.amount !== w.amount) {
		if (ctx.now - w.requestedAt > ORPHAN_AFTER_MS) {
			// Refused in the ledger first: it releases a lock of another amount (unpaid: the vault
			// was asked above) and no lock can be taken for this id afterwards, so refusing the row
			// never strands credit. A matching lock that appeared meanwhile is paid on the next run.
			await ctx.lease.renew();
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
	// The reads before this (the vault, the ledger's lock, signing) can be slow: a run taken over
	// meanwhile must not record its transaction over the new run's, nor send a second one for this id.
	await ctx.lease.renew();
	await updateWithdrawal(db, w.id, {
		state: "sent",
		nonce: tx.nonce,
		txHash: tx.hash,
		maxFeePerGas: tx.maxFeePerGas,
		maxPriorityFeePerGas: tx.maxPriorityFeePerGas,
		rawTx: tx.raw,
		sentAt: ctx.now,
	});
	await client.sendRawTransaction({ serializedTransaction: tx.raw });
	return awaitPayment(tx.hash);
}
