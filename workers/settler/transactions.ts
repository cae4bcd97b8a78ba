import {
	type Address,
	type Hex,
	isAddressEqual,
	keccak256,
	recoverTransactionAddress,
	type TransactionReceipt,
	type TransactionSerializedEIP1559,
} from "viem";
import { signedTransactionsOut } from "../../lib/db/chain.ts";
import { sleep } from "../../lib/sleep.ts";
import type { SettlerContext } from "./epoch.ts";

// Signing for the settler's transactions, and when a mined one is final. Signed
// locally (the key never leaves the Worker), so the hash is known before broadcast
// and recorded first.

export interface SignedTx {
	raw: Hex;
	hash: Hex;
	nonce: number;
	maxFeePerGas: bigint;
	maxPriorityFeePerGas: bigint;
}

export interface TxRequest {
	to: Address;
	data: Hex;
	/** Set to replace a pending transaction: same nonce, both fees raised. */
	replace?: { nonce: number; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint };
}

/** Nodes accept a replacement only with both fees raised by at least 10 %; 12.5 % leaves room. */
export function bumped(fee: bigint): bigint {
	return (fee * 1125n) / 1000n + 1n;
}

export async function signTx(ctx: SettlerContext, request: TxRequest): Promise<SignedTx> {
	const { client, account } = ctx;
	// Estimating runs the call: one the contract would refuse throws here, before anything is recorded or sent.
	const gas = ((await client.estimateGas({ account: account.address, to: request.to, data: request.data })) * 12n) / 10n;
	const next = await client.getTransactionCount({ address: account.address, blockTag: "pending" });
	// A replacement above the account's next nonce would wait on a gap below it. Ours are rebroadcast
	// first, lowest first, so what is left there is another account's: a withdrawal sent before
	// migration 0003 (which keeps no signed bytes, so its signer cannot be told) by a settler key
	// rotated since. Nothing would ever fill it, and every settle and withdrawal would wait behind it:
	// this one goes anew at the next nonce instead (the vault pays an id, and takes an epoch, once).
	const replace = request.replace && request.replace.nonce <= next ? request.replace : undefined;
	if (request.replace && !replace) {
		console.warn(`a replacement at nonce ${request.replace.nonce} would wait on a gap (next nonce ${next}): sent anew`);
	}
	const nonce = replace?.nonce ?? next;
	const estimate = await client.estimateFeesPerGas();
	let maxFeePerGas = estimate.maxFeePerGas;
	let maxPriorityFeePerGas = estimate.maxPriorityFeePerGas;
	if (replace) {
		maxFeePerGas = max(maxFeePerGas, bumped(replace.maxFeePerGas));
		maxPriorityFeePerGas = max(maxPriorityFeePerGas, bumped(replace.maxPriorityFeePerGas));
	}
	if (maxPriorityFeePerGas > maxFeePerGas) maxFeePerGas = maxPriorityFeePerGas;
	const raw = await account.signTransaction({
		type: "eip1559",
		chainId: ctx.chain.chainId,
		to: request.to,
		data: request.data,
		nonce,
		gas,
		maxFeePerGas,
		maxPriorityFeePerGas,
	});
	return { raw, hash: keccak256(raw), nonce, maxFeePerGas, maxPriorityFeePerGas };
}

/**
 * Sends a signed transaction of ours again, the same bytes, if the node does not know it (a reorg dropped
 * its block and the node forgot it; a restart; an eviction): the same nonce and hash, so it is mined at most
 * once, in place of none. `tx.nonce` must be unused on chain (`latest`, the account's mined count, is at most
 * it). A transaction is mined only after every lower nonce of the account, so first the same is done for
 * every other signed transaction of this key D1 keeps out (settles and withdrawals recorded "sent") at a
 * nonce from `latest` up to its own, lowest first: a settle rebroadcast after a reorg must not wait behind a
 * payment the same reorg dropped, nor a payment behind a settle. Only this key's bytes go out (signedByUs):
 * the lower ones are checked here, `tx` by the caller, which acts otherwise on another key's. True when `tx`
 * itself was sent again (a row without signed bytes, `raw` null, is not); a failed broadcast is logged, not
 * thrown (the next check finds it pending or gone).
 */
export async function rebroadcastIfForgotten(
	ctx: SettlerContext,
	tx: { nonce: number; raw: Hex | null; what: string },
	latest: number,
): Promise<boolean> {
	/** Nonces a transaction of ours now fills in the node's pool (one known, or one just sent again). */
	const filled = new Set<number>();
	for (const lower of await signedTransactionsOut(ctx.db, { from: latest, below: tx.nonce })) {
		if (filled.has(lower.nonce)) continue;
		// Another key's: its nonce is another account's, and it must neither be sent nor fill one of ours.
		if (!(await signedByUs(ctx, lower.rawTx))) continue;
		if ((await sendIfForgotten(ctx, lower.rawTx as Hex, lower.what)) !== "failed") filled.add(lower.nonce);
	}
	return tx.raw !== null && (await sendIfForgotten(ctx, tx.raw, tx.what)) === "sent";
}

/**
 * Whether `raw` was signed by this run's key. After the operator rotates SETTLER_PRIVATE_KEY, D1 still keeps
 * transactions of the old key out (settles and withdrawals recorded "sent"): their nonces are the old
 * account's, which this key can neither fill nor replace, so they are not compared with this account's
 * nonces, nor sent again (the vault takes an epoch, and pays an id, once: paid or not, the old bytes would
 * only spend gas). The new key sends its own instead. A row without signed bytes (a withdrawal sent before
 * migration 0003) counts as this key's, as before: its signer is not known.
 */
export async function signedByUs(ctx: SettlerContext, raw: string | null): Promise<boolean> {
	if (raw === null) return true;
	// signTx signs only EIP-1559 transactions.
	const signer = await recoverTransactionAddress({ serializedTransaction: raw as TransactionSerializedEIP1559 });
	return isAddressEqual(signer, ctx.account.address);
}

async function sendIfForgotten(ctx: SettlerContext, raw: Hex, what: string): Promise<"known" | "sent" | "failed"> {
	if (await ctx.client.getTransaction({ hash: keccak256(raw) }).catch(() => null)) return "known";
	// A rebroadcast is a transaction like any: a run taken over must not send it behind the new run.
	await ctx.lease.renew();
	return ctx.client.sendRawTransaction({ serializedTransaction: raw }).then(
		() => "sent" as const,
		(e: unknown) => {
			console.warn(`${what}: rebroadcast failed: ${(e as Error).message}`);
			return "failed" as const;
		},
	);
}

/** The first of `hashes` found mined (reverted or not), polled for up to `waitMs`; null if none is. */
export async function firstReceipt(ctx: SettlerContext, hashes: Hex[], waitMs: number): Promise<TransactionReceipt | null> {
	const deadline = Date.now() + waitMs;
	for (;;) {
		for (const hash of hashes) {
			const receipt = await ctx.client.getTransactionReceipt({ hash }).catch(() => null);
			if (receipt) return receipt;
		}
		if (Date.now() >= deadline) return null;
		await sleep(250);
	}
}

function max(a: bigint, b: bigint): bigint {
	return a > b ? a : b;
}

/**
 * Whether what was mined in `block` is final for D1: CONFIRMATIONS blocks under the head (head - block >=
 * confirmations), as deep as the indexer reads. Shallower, a reorg of the newest blocks can still drop it,
 * and D1 would keep an epoch confirmed or a withdrawal paid that the chain no longer has.
 */
export async function isFinal(ctx: SettlerContext, block: bigint): Promise<boolean> {
	return (await ctx.client.getBlockNumber()) - block >= ctx.chain.confirmations;
}
