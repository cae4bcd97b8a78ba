import { BaseError, decodeErrorResult, type Hex, isHex } from "viem";
import { revenueVaultAbi } from "../../lib/chain/abis.ts";
import { publicClientFor, walletClientFor } from "../../lib/chain/client.ts";
import { parsePrivateKey, readChainConfig } from "../../lib/chain/config.ts";
import {
	epochAssignedButUnrecorded,
	epochRow,
	type JobLease,
	LeaseLost,
	lastEpoch,
	modelsWithUnassignedUsage,
	releaseUnrecordedEpoch,
	runBatch,
	unfinishedEpoch,
	withLease,
} from "../../lib/db/chain.ts";
import { type Db, openDb } from "../../lib/db/client.ts";
import { type Env, readSettlerConfig } from "./env.ts";
import {
	checkSent,
	confirmFromChain,
	crashes,
	escrowBalance,
	escrowShortfall,
	isRegistered,
	prepareEpoch,
	type SettlerContext,
	type SettlerHooks,
	sendEpoch,
	waitForReceipt,
} from "./epoch.ts";
import { advanceSentWithdrawals, payWithdrawals } from "./withdrawals.ts";

// One settler run: first a withdrawal whose transaction is out (recorded once
// CONFIRMATIONS deep, rebroadcast from its signed bytes when the node forgot it, or
// replaced at its nonce when stale); then finish the epoch in
// flight (confirmed once its receipt or Settled log is CONFIRMATIONS deep), then close
// every finished epoch after it, one at a time and in order (a later epoch is never
// sent while an earlier one is unconfirmed, so none is skipped). Then queued withdrawals: a
// settlement that fails (the vault refuses it, the RPC errs) stops the epochs, not
// the payers' withdrawals of their own deposits. One account, one transaction at a
// time: no settle is sent while a withdrawal is pending, and no withdrawal while a
// settle is (a transaction behind a pending one could not be mined before it, and
// replacing it would not help); one mined, if not yet CONFIRMATIONS deep, is not pending. One run at a time holds the settler's lease, renewed
// before every D1 write and transaction: a run that outlived it and was taken over
// stops there, with nothing more recorded or sent.

const MAX_STEPS_PER_RUN = 12;

export interface SettlerRunResult {
	/** Another run held the lease: this one did nothing. */
	busy: boolean;
	confirmed: number[];
	empty: number[];
	pending: number | null;
	/** An epoch whose fees exceed the vault's escrow: it waits (and those after it) until the vault is funded. */
	underfunded: { epoch: number; needed: bigint; available: bigint } | null;
	/** The epoch step that failed (epoch null: before one was chosen), and why; the epochs wait, withdrawals do not. */
	failed: { epoch: number | null; message: string } | null;
	withdrawalsPaid: number;
	/** A withdrawal whose transaction is still pending: no settle was sent behind it this run. */
	withdrawalPending: string | null;
}

/** A run longer than this is presumed dead and its lease taken over. */
const LEASE_MS = 10 * 60_000;

export async function runSettler(env: Env, now: number, hooks: SettlerHooks = {}): Promise<SettlerRunResult> {
	const db = openDb(env.DB);
	// One run at a time: a second would race this one for the same nonce and epochs.
	const result = await withLease(db, "settler", LEASE_MS, (lease) => settleOnce(env, db, now, hooks, lease));
	return result ?? { ...emptyResult(), busy: true };
}

function emptyResult(): SettlerRunResult {
	return {
		busy: false,
		confirmed: [],
		empty: [],
		pending: null,
		underfunded: null,
		failed: null,
		withdrawalsPaid: 0,
		withdrawalPending: null,
	};
}

async function settleOnce(env: Env, db: Db, now: number, hooks: SettlerHooks, lease: JobLease): Promise<SettlerRunResult> {
	const chain = readChainConfig(env);
	const settler = readSettlerConfig(env);
	const wallet = walletClientFor(chain, parsePrivateKey(env.SETTLER_PRIVATE_KEY, "SETTLER_PRIVATE_KEY"));
	const ctx: SettlerContext = {
		db,
		chain,
		settler,
		client: publicClientFor(chain),
		account: wallet.account,
		now,
		hooks,
		lease,
		registered: new Map(),
	};
	const result = emptyResult();

	// A withdrawal sent by an earlier run and not yet mined goes first: only here is it
	// replaced when stale, and while it is pending no settle is sent.
	const inFlight = await advanceSentWithdrawals(ctx, env);
	result.withdrawalsPaid = inFlight.paid;
	result.withdrawalPending = inFlight.pending;

	/** The epoch the current step works on, for the failure report. */
	let current: number | null = null;
	/**
	 * The pending epoch's settle (one D1 recorded as sent) is mined, only not yet CONFIRMATIONS
	 * deep: its nonce is spent, and a reorg that dropped it would have it rebroadcast from its
	 * signed bytes, so withdrawals may go out behind it (else every run that sent a settle paid none).
	 */
	let settleMined = false;
	try {
		for (let step = 0; step < MAX_STEPS_PER_RUN; step++) {
			current = null;
			let row = await unfinishedEpoch(ctx.db);
			if (!row) {
				const next = await nextEpochToClose(ctx);
				if (next === null) break;
				current = next;
				await checkVaultTakes(ctx, next);
				row = await prepareEpoch(ctx, next);
				if (row.state === "empty") {
					result.empty.push(row.epoch);
					continue;
				}
			}
			current = row.epoch;
			if (row.state === "prepared") {
				const settled = await confirmFromChain(ctx, row.epoch);
				if (settled === "confirmed") {
					result.confirmed.push(row.epoch);
					continue;
				}
				if (settled === "mined") {
					// Settled (by a settle whose "sent" D1 lost, say), not yet CONFIRMATIONS deep: the
					// epoch stays prepared, nothing is sent for it, and a later run records it. Withdrawals
					// wait: D1 kept no signed bytes of that settle, so were a reorg to drop it and the node
					// forget it, a withdrawal behind it would wait on a nonce nothing fills.
					result.pending = row.epoch;
					break;
				}
				// Fees beyond the escrow mean credit no deposit backs (an admin's) was spent: the
				// settle would revert. Leave it waiting and go on to the withdrawals.
				const shortfall = await escrowShortfall(ctx, row);
				if (shortfall) {
					result.underfunded = { epoch: row.epoch, ...shortfall };
					break;
				}
				// A settle now would take the nonce after the pending withdrawal's: the epoch waits.
				if (result.withdrawalPending !== null) break;
				await sendEpoch(ctx, row);
				row = (await epochRow(ctx.db, row.epoch)) ?? row;
				await waitForReceipt(ctx, row, settler.receiptWaitMs);
			}
			const status = await checkSent(ctx, row);
			if (status === "confirmed") result.confirmed.push(row.epoch);
			if (status === "pending" || status === "mined") {
				result.pending = row.epoch;
				settleMined = status === "mined";
				break;
			}
		}
	} catch (err) {
		// A crash ends the run; so does a lease lost to another run, which now does the epochs and withdrawals.
		if (err instanceof LeaseLost || (typeof err === "object" && err !== null && crashes.has(err))) throw err;
		result.failed = { epoch: current, message: describeFailure(err) };
		console.error(
			`settler: ${current === null ? "choosing the next epoch" : `epoch ${current}`} failed, and waits for the next run: ${result.failed.message}`,
		);
		// A settle transaction may be out with this epoch's nonce: withdrawals wait as behind a
		// pending one (one transaction at a time, so no nonce gap).
		if (current !== null) {
			const row = await epochRow(ctx.db, current).catch(() => undefined);
			if (row?.state === "sent") result.pending = current;
		}
	}
	if ((result.pending === null || settleMined) && result.withdrawalPending === null) {
		result.withdrawalsPaid += await payWithdrawals(ctx, env);
	}
	if (result.underfunded) {
		// What to deposit, after the withdrawals this run paid from the same escrow.
		const { epoch, needed } = result.underfunded;
		const left = await escrowBalance(ctx);
		console.error(
			`settler: epoch ${epoch} pays ${needed} base units of fees but the vault's escrow holds ${left}: credit no ` +
				`deposit backs (admin credit) was spent. Deposit at least ${needed - left} base units to the vault ` +
				"(RevenueVault.deposit) for an account that never withdraws it; the epoch, and those after it, wait until then.",
		);
	}
	return result;
}

/** An error's first line, and the vault's own reason (its custom error, decoded) when it refused the call. */
function describeFailure(err: unknown): string {
	if (!(err instanceof Error)) return String(err);
	const message = (err as { shortMessage?: string }).shortMessage ?? err.message.split("\n")[0] ?? err.message;
	const data = err instanceof BaseError ? err.walk((e) => isHex((e as { data?: unknown }).data)) : null;
	const revert = (data as { data?: Hex } | null)?.data;
	if (!revert || revert.length < 10) return message;
	try {
		const decoded = decodeErrorResult({ abi: revenueVaultAbi, data: revert });
		return `the vault refuses it: ${decoded.errorName}(${(decoded.args ?? []).map(String).join(", ")})`;
	} catch {
		return message;
	}
}

/** Models' oldest waiting usage looked at per run to find one the vault can settle. */
const OLDEST_USAGE_MODELS = 20;

/**
 * Creation time of the oldest usage waiting that the vault can settle (its model's token
 * is registered there), or null. Usage of a token the vault does not know waits forever
 * (prepareEpoch reports it); counting it here would make the settler walk every epoch
 * since, writing an empty row for each, instead of going straight to the usage it can
 * settle. Past OLDEST_USAGE_MODELS unknown tokens it falls back to the oldest of all.
 */
async function oldestSettleableUsage(ctx: SettlerContext): Promise<number | null> {
	const rows = await modelsWithUnassignedUsage(ctx.db, { limit: OLDEST_USAGE_MODELS });
	for (const row of rows) if (await isRegistered(ctx, row.token)) return row.oldest;
	return rows.length === OLDEST_USAGE_MODELS ? (rows[0]?.oldest ?? null) : null;
}

/**
 * The next epoch to close, or null when it has not ended (plus grace) yet.
 * Epochs without usage are passed over without a row or a transaction: after
 * downtime the settler goes straight to the epoch of the oldest usage waiting.
 * Nothing is lost by it, since every usage row not yet in an epoch goes into
 * the next one closed.
 */
async function nextEpochToClose(ctx: SettlerContext): Promise<number | null> {
	const { epochMs, graceMs } = ctx.settler;
	const latestClosable = Math.floor((ctx.now - graceMs) / epochMs) - 1;
	const last = await lastEpoch(ctx.db);
	let next = await epochAssignedButUnrecorded(ctx.db, last?.epoch ?? null);
	const assignedButUnrecorded = next !== null;
	if (next === null) {
		const oldest = await oldestSettleableUsage(ctx);
		if (oldest === null) return null;
		next = Math.max(last ? last.epoch + 1 : 0, Math.floor(oldest / epochMs));
	}
	const onChain = Number(
		await ctx.client.readContract({
			address: ctx.chain.addresses.revenueVault,
			abi: revenueVaultAbi,
			functionName: "lastSettledEpoch",
		}),
	);
	if (next <= onChain) {
		// The vault is ahead of D1 (settled by another settler, or D1 restored from a backup).
		if (assignedButUnrecorded) {
			// Usage assigned to an epoch D1 has no row for, which the vault has settled: D1 lost
			// what a run wrote after assigning it (a restore from a backup). Left there, it would
			// never settle, and the fee totals would stay short of it for good. Released, it goes
			// into the next epoch closed. No double payment: the fee totals went back with the
			// restore too (they move with the epoch row), and the vault pays only what its
			// cumulative totals lack, so what it already paid for this usage is not paid again.
			await ctx.lease.renew();
			await runBatch(ctx.db, releaseUnrecordedEpoch(ctx.db, next));
			console.warn(
				`settler: usage assigned to epoch ${next}, which D1 has no row for, but the vault settled through epoch ${onChain} ` +
					`(D1 restored from a backup?): released into epoch ${onChain + 1}`,
			);
		} else console.warn(`settler: vault already settled epoch ${onChain}; D1 would close ${next}; continuing after ${onChain}`);
		next = onChain + 1;
	}
	return next <= latestClosable ? next : null;
}

/**
 * The vault refuses an epoch past the one after its current (block.timestamp / its epochLength,
 * + 1). A settler whose EPOCH_SECONDS is shorter than the vault's numbers its epochs past that:
 * refused here, before anything is prepared. Prepared, the epoch would be the first one every
 * later run takes up, and the vault would refuse it every time, even after EPOCH_SECONDS is put
 * right (the epoch row and the fee totals keep its number).
 */
async function checkVaultTakes(ctx: SettlerContext, epoch: number): Promise<void> {
	const length = await ctx.client.readContract({
		address: ctx.chain.addresses.revenueVault,
		abi: revenueVaultAbi,
		functionName: "epochLength",
	});
	const current = Math.floor(ctx.now / 1000 / length);
	if (epoch > current + 1) {
		throw new Error(
			`epoch ${epoch} is past what the vault takes (its current epoch is ${current}): the vault's epoch length is ` +
				`${length} s and this settler's EPOCH_SECONDS ${ctx.settler.epochMs / 1000}; they must be equal. Nothing was prepared.`,
		);
	}
}
