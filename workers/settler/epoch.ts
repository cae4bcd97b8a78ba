import { type Address, encodeFunctionData, getAddress, type Hex, type PublicClient } from "viem";
import type { PrivateKeyAccount } from "viem/accounts";
import { revenueVaultAbi } from "../../lib/chain/abis.ts";
import type { ChainConfig } from "../../lib/chain/config.ts";
import { inAcceptedRanges } from "../../lib/chain/logs.ts";
import {
	assignUsage,
	deleteLeavesOfEpoch,
	type EpochRow,
	epochRow,
	feeTotals,
	insertEpoch,
	insertLeaves,
	type JobLease,
	modelsOfEpoch,
	modelsWithUnassignedUsage,
	runBatch,
	setFeeTotals,
	unassignedUsageOf,
	unsettleableUsage,
	updateEpoch,
	usageOfEpoch,
} from "../../lib/db/chain.ts";
import { batch, type Db } from "../../lib/db/client.ts";
import type { SettlerConfig } from "./env.ts";
import { aggregateEpoch } from "./merkle.ts";
import { firstReceipt, isFinal, rebroadcastIfForgotten, signedByUs, signTx } from "./transactions.ts";

// One epoch's settlement as a state machine in D1:
//
//   (none) ──prepare──▶ prepared ──sign, record, broadcast──▶ sent ──receipt, CONFIRMATIONS deep──▶ confirmed
//                          ▲                                   │
//                          └── reverted / nonce taken by another tx
//   (none) ──prepare, no usage──▶ empty
//
// "prepared" fixes everything the transaction carries (leaves, root, each model's
// cumulative fees): the leaves first, then the epoch row and the new cumulative fees
// together in one D1 batch (one transaction), so an epoch row always has all its
// leaves and the fee totals move exactly when the epoch that carries them exists. "sent" is written with the signed
// transaction *before* it is broadcast, so a crash can only leave a transaction
// that D1 knows about. Whatever the state, the chain is read before acting:
// if the vault already has this epoch (lastSettledEpoch >= epoch), the settlement
// is looked up in the vault's Settled logs, never sent again, and recorded once
// it is CONFIRMATIONS deep. Until then (its receipt or log is too recent: a reorg
// can still drop it) the epoch stays as it is and the run returns it as pending.
// The vault itself pays only cumulative differences, so even a duplicate send of
// the same epoch would revert (EpochNotIncreasing) rather than pay twice.

/**
 * A hook that throws stands for the Worker dying at that point (the tests' crash
 * points): its error ends the run as a crash would, with nothing after it, where any
 * other failure only stops the epochs (settler.ts).
 */
export const crashes = new WeakSet<object>();

async function crashPoint(hook: (() => Promise<void> | void) | undefined): Promise<void> {
	try {
		await hook?.();
	} catch (err) {
		if (typeof err === "object" && err !== null) crashes.add(err);
		throw err;
	}
}

export interface SettlerHooks {
	/** Test hook: called after a transaction was broadcast, before anything else is recorded. */
	afterBroadcast?(epoch: number, hash: Hex): Promise<void> | void;
	/** Test hook: called after an epoch's leaves were written, before its row and fee totals. */
	afterLeaves?(epoch: number): Promise<void> | void;
}

export interface SettlerContext {
	db: Db;
	chain: ChainConfig;
	settler: SettlerConfig;
	client: PublicClient;
	account: PrivateKeyAccount;
	now: number;
	hooks: SettlerHooks;
	/**
	 * The run's job lease, renewed before every D1 write and every transaction: a run that
	 * outlived it (presumed dead) may have been taken over, and must not record or send
	 * behind the new run. Renewing then throws LeaseLost, which ends the run.
	 */
	lease: JobLease;
	/** isRegistered answers of this run, by token (choosing the epoch and preparing it ask alike). */
	registered: Map<string, Promise<boolean>>;
}

export interface EpochModel {
	modelId: string;
	token: Address;
	fees: string;
	cumulativeFees: string;
}

function epochBounds(epoch: number, epochMs: number): { startMs: number; endMs: number } {
	return { startMs: epoch * epochMs, endMs: (epoch + 1) * epochMs };
}

/** Fixes an epoch's usage, leaves, root and cumulative fees; returns the new row. */
export async function prepareEpoch(ctx: SettlerContext, epoch: number): Promise<EpochRow> {
	const { db } = ctx;
	const { startMs, endMs } = epochBounds(epoch, ctx.settler.epochMs);
	// Only models the vault knows can be settled: a token it never registered
	// would revert the whole settle, so that model's usage waits (and is reported).
	const settleable: string[] = [];
	const unregistered = new Set<string>();
	for (const m of await modelsWithUnassignedUsage(db, { endMs })) {
		if (await isRegistered(ctx, m.token)) settleable.push(m.modelId);
		else unregistered.add(m.modelId);
	}
	// At most maxModels models per settle (its gas grows with them): the others' usage stays
	// unassigned and goes into the next epoch closed. Models a stopped run already assigned
	// here count first.
	const assigned = new Set(await modelsOfEpoch(db, epoch));
	// (settleable comes oldest waiting usage first: a busy backlog starves no model.)
	const fresh = settleable.filter((id) => !assigned.has(id));
	const room = Math.max(0, ctx.settler.maxModels - assigned.size);
	const deferred = fresh.length - room;
	if (deferred > 0) {
		console.warn(
			`epoch ${epoch}: ${assigned.size + fresh.length} models to settle, ${ctx.settler.maxModels} fit one settle; ${deferred} go into the next epoch closed`,
		);
	}
	// Assigning is idempotent (rows already in an epoch are skipped). A run stopped
	// after this and before the epoch's row is written leaves assigned usage with no
	// epoch: the next run closes that epoch first (epochAssignedButUnrecorded).
	await ctx.lease.renew();
	await assignUsage(db, epoch, endMs, [...assigned, ...fresh.slice(0, room)]);
	const rows = await usageOfEpoch(db, epoch);
	const aggregate = aggregateEpoch(epoch, rows);

	const previous = new Map((await feeTotals(db)).map((t) => [t.modelId, t]));
	const models: EpochModel[] = [];
	const totals: Parameters<typeof setFeeTotals>[1] = [];
	for (const [modelId, { token, fees }] of [...aggregate.feesByModel].sort(([a], [b]) => (a < b ? -1 : 1))) {
		if (fees === 0n) continue;
		// The vault keeps cumulative fees per token. A model whose token changed since its last
		// epoch (the operator set another token_address) goes on from what the vault has paid the new
		// token: carried over, its old total would be paid to the new token a second time.
		const before = previous.get(modelId);
		const base = !before ? 0n : before.token === token.toLowerCase() ? before.cumulativeFees : await settledFees(ctx, token);
		const cumulativeFees = base + fees;
		models.push({ modelId, token, fees: fees.toString(), cumulativeFees: cumulativeFees.toString() });
		totals.push({ modelId, token: token.toLowerCase(), cumulativeFees, throughEpoch: epoch });
	}

	const skippedByModel = new Map<string, { reason: "no_token" | "not_registered"; requests: number; fees: bigint }>();
	const waiting = [
		...(await unsettleableUsage(db, endMs)).map((r) => ({ ...r, reason: "no_token" as const })),
		...(await unassignedUsageOf(db, endMs, [...unregistered])).map((r) => ({ ...r, reason: "not_registered" as const })),
	];
	for (const row of waiting) {
		const s = skippedByModel.get(row.modelId) ?? { reason: row.reason, requests: 0, fees: 0n };
		s.requests++;
		s.fees += row.fee;
		skippedByModel.set(row.modelId, s);
	}
	const skipped = [...skippedByModel].map(([modelId, s]) => ({
		modelId,
		reason: s.reason,
		requests: s.requests,
		fees: s.fees.toString(),
	}));
	if (skipped.length > 0) {
		console.warn(
			`epoch ${epoch}: usage waiting (model without a token, or a token the vault does not know): ${skipped.map((s) => `${s.modelId} (${s.reason}, ${s.requests} requests)`).join(", ")}`,
		);
	}

	const row = {
		chainId: ctx.chain.chainId,
		epoch,
		startMs,
		endMs,
		state: aggregate.leaves.length === 0 ? ("empty" as const) : ("prepared" as const),
		usageRoot: aggregate.tree.root,
		models: JSON.stringify(models),
		skipped: JSON.stringify(skipped),
		txHashes: "[]",
		updatedAt: Date.now(),
	};
	// The leaves, in as many batches as they take, replacing any a stopped run of this
	// epoch left (with different usage, perhaps: rows that arrived since were assigned too).
	// Reading the usage can be slow: a run taken over meanwhile must not replace the leaves
	// of the epoch the new run prepared (they would no longer match the root it settles).
	await ctx.lease.renew();
	await runBatch(db, [
		deleteLeavesOfEpoch(db, epoch),
		...insertLeaves(
			db,
			aggregate.leaves.map((l) => ({
				epoch,
				payer: l.payer.toLowerCase(),
				token: l.model.toLowerCase(),
				modelId: l.modelId,
				inputTokens: Number(l.inputTokens),
				outputTokens: Number(l.outputTokens),
				fee: l.fee,
			})),
		),
	]);
	await crashPoint(ctx.hooks.afterLeaves && (() => ctx.hooks.afterLeaves?.(epoch)));
	// Then the epoch and the fee totals it moves, in one transaction: a run stopped before
	// this leaves no epoch row, so the next run prepares the epoch again from the start.
	await ctx.lease.renew();
	await batch(db, [insertEpoch(db, row), ...setFeeTotals(db, totals)]);
	const stored = await epochRow(db, epoch);
	if (!stored) throw new Error(`epoch ${epoch} missing right after it was prepared`);
	return stored;
}

function settleCall(row: EpochRow): Hex {
	const models = JSON.parse(row.models) as EpochModel[];
	return encodeFunctionData({
		abi: revenueVaultAbi,
		functionName: "settle",
		args: [
			BigInt(row.epoch),
			models.map((m) => getAddress(m.token)),
			models.map((m) => BigInt(m.cumulativeFees)),
			row.usageRoot as Hex,
		],
	});
}

/** Whether the vault knows the token (it reverts a settle that names one it does not). */
export function isRegistered(ctx: SettlerContext, token: string | null): Promise<boolean> {
	const key = token ?? "";
	let answer = ctx.registered.get(key);
	if (!answer) {
		answer = ctx.client.readContract({
			address: ctx.chain.addresses.revenueVault,
			abi: revenueVaultAbi,
			functionName: "isRegistered",
			args: [getAddress(key)],
		});
		ctx.registered.set(key, answer);
		// A failed read is asked again, not remembered.
		answer.catch(() => ctx.registered.delete(key));
	}
	return answer;
}

/** What the vault's escrow lacks to pay the epoch's fees, or null when it holds enough. */
export async function escrowShortfall(ctx: SettlerContext, row: EpochRow): Promise<{ needed: bigint; available: bigint } | null> {
	const models = JSON.parse(row.models) as EpochModel[];
	const available = await escrowBalance(ctx);
	let needed = models.reduce((sum, m) => sum + BigInt(m.fees), 0n);
	if (needed <= available) return null;
	// The vault pays each model only what its cumulative total lacks, which can be less than
	// the epoch's fees (usage a lost settle already paid, see nextEpochToClose): count that,
	// one read per model, only when the escrow looks short.
	needed = 0n;
	for (const m of models) {
		const lacking = BigInt(m.cumulativeFees) - (await settledFees(ctx, m.token));
		if (lacking > 0n) needed += lacking;
	}
	return needed > available ? { needed, available } : null;
}

/** What the vault has paid a model's holders in all (its cumulative total). */
function settledFees(ctx: SettlerContext, token: string): Promise<bigint> {
	return ctx.client.readContract({
		address: ctx.chain.addresses.revenueVault,
		abi: revenueVaultAbi,
		functionName: "settledFees",
		args: [getAddress(token)],
	});
}

/** PACA the vault holds for fees and withdrawals. */
export function escrowBalance(ctx: SettlerContext): Promise<bigint> {
	return ctx.client.readContract({
		address: ctx.chain.addresses.revenueVault,
		abi: revenueVaultAbi,
		functionName: "escrowBalance",
	});
}

/** Signs the epoch's settle (or a replacement at the same nonce), records it, then broadcasts it. */
export async function sendEpoch(ctx: SettlerContext, row: EpochRow, replace = false): Promise<Hex> {
	const tx = await signTx(ctx, {
		to: ctx.chain.addresses.revenueVault,
		data: settleCall(row),
		...(replace && row.nonce !== null && row.maxFeePerGas !== null && row.maxPriorityFeePerGas !== null
			? { replace: { nonce: row.nonce, maxFeePerGas: row.maxFeePerGas, maxPriorityFeePerGas: row.maxPriorityFeePerGas } }
			: {}),
	});
	const hashes = [...(JSON.parse(row.txHashes) as Hex[]), tx.hash];
	// Signing read the chain (gas, nonce, fees): a run taken over meanwhile must not send a second settle.
	await ctx.lease.renew();
	await updateEpoch(ctx.db, row.epoch, {
		state: "sent",
		nonce: tx.nonce,
		txHashes: JSON.stringify(hashes),
		maxFeePerGas: tx.maxFeePerGas,
		maxPriorityFeePerGas: tx.maxPriorityFeePerGas,
		rawTx: tx.raw,
		sentAt: ctx.now,
	});
	await ctx.client.sendRawTransaction({ serializedTransaction: tx.raw });
	await crashPoint(ctx.hooks.afterBroadcast && (() => ctx.hooks.afterBroadcast?.(row.epoch, tx.hash)));
	return tx.hash;
}

/** "mined": the settle is in a block, not yet CONFIRMATIONS deep (its nonce is spent either way). */
export type SentStatus = "confirmed" | "mined" | "pending" | "resend";

/** Reads the chain for a sent epoch and records what it finds. */
export async function checkSent(ctx: SettlerContext, row: EpochRow): Promise<SentStatus> {
	const { client } = ctx;
	const hashes = (JSON.parse(row.txHashes) as Hex[]).slice().reverse();
	for (const hash of hashes) {
		const receipt = await client.getTransactionReceipt({ hash }).catch(() => null);
		if (!receipt) continue;
		if (receipt.status === "success") {
			// Mined, not yet CONFIRMATIONS deep: neither recorded nor replaced.
			if (!(await isFinal(ctx, receipt.blockNumber))) return "mined";
			await markConfirmed(ctx, row.epoch, hash, receipt.blockNumber, receipt.gasUsed);
			return "confirmed";
		}
		const settled = await confirmFromChain(ctx, row.epoch);
		if (settled) return settled;
		// Sent again at once, though the revert may not be CONFIRMATIONS deep yet. That is safe: the
		// revert spent the old nonce, and should a reorg drop it, the old settle may be mined again,
		// and succeed, besides the new one. But the vault takes an epoch once (the later of the two
		// reverts, EpochNotIncreasing), and the one that settled it is found by its Settled log (as
		// just above, on a later check) and recorded only once that is deep: nothing is final before.
		console.error(
			`epoch ${row.epoch}: settle ${hash} reverted; preparing to send again (at nonce ${row.nonce}: ${row.txHashes})`,
		);
		await resend(ctx, row.epoch);
		return "resend";
	}
	// No listed settle was mined, but the vault may have the epoch (from a settle a resend dropped
	// from the list): recorded once deep, pending until then; its nonce is spent, so nothing is
	// sent again or replaced meanwhile.
	const settled = await confirmFromChain(ctx, row.epoch);
	if (settled) return settled;

	if (!(await signedByUs(ctx, row.rawTx))) {
		// Signed by another key (the settler key was rotated since): its nonce is that account's, which
		// this key can neither fill nor replace. Sent again from this key at once, as after a revert: the
		// vault takes the epoch once, and a settle of the old key mined after all is found by its log.
		console.warn(
			`epoch ${row.epoch}: its settle was signed by another key (SETTLER_PRIVATE_KEY rotated); sending again (dropped: ${row.txHashes})`,
		);
		await resend(ctx, row.epoch);
		return "resend";
	}
	const latestNonce = await client.getTransactionCount({ address: ctx.account.address, blockTag: "latest" });
	if (row.nonce !== null && latestNonce > row.nonce) {
		// The nonce was used by a transaction that is none of ours for this epoch. Acted on at once,
		// as after a revert (that transaction may be shallow too): the vault takes the epoch once.
		console.warn(
			`epoch ${row.epoch}: nonce ${row.nonce} was used by another transaction; sending again (dropped: ${row.txHashes})`,
		);
		await resend(ctx, row.epoch);
		return "resend";
	}
	// The node lost it (a reorg, a restart, an eviction): the same signed bytes, the same hash; and first
	// any of our transactions at a lower nonce it lost too (the settle is mined only after them).
	if (row.nonce !== null) {
		const raw = row.rawTx as Hex | null;
		await rebroadcastIfForgotten(ctx, { nonce: row.nonce, raw, what: `epoch ${row.epoch}` }, latestNonce);
	}
	if (row.sentAt !== null && ctx.now - row.sentAt >= ctx.settler.replaceAfterMs) {
		const hash = await sendEpoch(ctx, row, true);
		console.warn(`epoch ${row.epoch}: transaction pending since ${new Date(row.sentAt).toISOString()}; replaced by ${hash}`);
	}
	return "pending";
}

/**
 * Back to "prepared", to be sent at a new nonce. The old nonce is spent (by a reverted settle
 * of ours or by another transaction), so none of its hashes can ever settle the epoch: they are
 * dropped (the caller logs them). Kept, a reverted one would be found again by waitForReceipt
 * and checkSent while the new settle is pending, and sent again at every step.
 */
async function resend(ctx: SettlerContext, epoch: number): Promise<void> {
	await ctx.lease.renew();
	await updateEpoch(ctx.db, epoch, { state: "prepared", nonce: null, txHashes: "[]" });
}

/**
 * If the vault already has `epoch`, records the transaction that settled it ("confirmed") once its
 * Settled log is CONFIRMATIONS deep; "mined" while it is not (recorded by a later run, or never
 * if a reorg drops it: the epoch is then sent again); null when the vault does not have it.
 */
export async function confirmFromChain(ctx: SettlerContext, epoch: number): Promise<"confirmed" | "mined" | null> {
	const vault = ctx.chain.addresses.revenueVault;
	const last = await ctx.client.readContract({ address: vault, abi: revenueVaultAbi, functionName: "lastSettledEpoch" });
	if (last < BigInt(epoch)) return null;
	const log = await settledLog(ctx, epoch);
	if (!log?.transactionHash || log.blockNumber === null) {
		throw new Error(
			`vault is past epoch ${epoch} (last settled ${last}) but has no Settled log for it: settled by someone else?`,
		);
	}
	const receipt = await ctx.client.getTransactionReceipt({ hash: log.transactionHash });
	if (!(await isFinal(ctx, receipt.blockNumber))) return "mined";
	await markConfirmed(ctx, epoch, log.transactionHash, receipt.blockNumber, receipt.gasUsed);
	return "confirmed";
}

/**
 * The vault's Settled log of `epoch`, searched from the head back to the start block in ranges of
 * MAX_BLOCK_RANGE (a range the provider still refuses as too large is halved), as the indexer reads:
 * providers cap eth_getLogs by blocks or results, and one query from the start block to the head
 * would be refused on every run once the deployment is old enough. Newest first, since the settle
 * looked for is usually recent.
 */
async function settledLog(ctx: SettlerContext, epoch: number) {
	const start = ctx.chain.startBlock;
	let to = await ctx.client.getBlockNumber();
	while (to >= start) {
		const from = to - ctx.chain.maxBlockRange + 1n > start ? to - ctx.chain.maxBlockRange + 1n : start;
		const logs = await inAcceptedRanges(from, to, (fromBlock, toBlock) =>
			ctx.client.getContractEvents({
				address: ctx.chain.addresses.revenueVault,
				abi: revenueVaultAbi,
				eventName: "Settled",
				args: { epoch: BigInt(epoch) },
				fromBlock,
				toBlock,
			}),
		);
		if (logs.length > 0) return logs[logs.length - 1];
		to = from - 1n;
	}
	return undefined;
}

async function markConfirmed(ctx: SettlerContext, epoch: number, hash: Hex, block: bigint, gasUsed: bigint): Promise<void> {
	await ctx.lease.renew();
	await updateEpoch(ctx.db, epoch, {
		state: "confirmed",
		confirmedTx: hash,
		confirmedBlock: Number(block),
		gasUsed: Number(gasUsed),
	});
	await auditEpoch(ctx, epoch);
}

/**
 * After a confirmation: the vault's settled total of each model in the epoch
 * must equal the cumulative fees D1 carried (a later epoch may only have raised it).
 * A mismatch means D1 and the chain disagree about money; it is logged loudly
 * and returned, never "fixed" here.
 */
async function auditEpoch(ctx: SettlerContext, epoch: number): Promise<string[]> {
	const row = await epochRow(ctx.db, epoch);
	if (!row) return [];
	const problems: string[] = [];
	for (const m of JSON.parse(row.models) as EpochModel[]) {
		const settled = await settledFees(ctx, m.token);
		if (settled < BigInt(m.cumulativeFees)) {
			problems.push(`${m.modelId} (${m.token}): vault settled ${settled}, D1 cumulative ${m.cumulativeFees}`);
		}
	}
	if (problems.length > 0) console.error(`epoch ${epoch}: settled totals below D1's: ${problems.join("; ")}`);
	return problems;
}

/** Polls for any of the epoch's transactions to be mined, up to `waitMs`. */
export async function waitForReceipt(ctx: SettlerContext, row: EpochRow, waitMs: number): Promise<void> {
	await firstReceipt(ctx, JSON.parse(row.txHashes) as Hex[], waitMs);
}
