import { DurableObject } from "cloudflare:workers";
import { isDeposit } from "../lib/money.ts";
import {
	LEASE_USE_MS,
	type LeaseRecord,
	type LeaseSyncInput,
	type LeaseSyncResult,
	leaseRequestId,
	parseLeaseRequestId,
	type RequestStatus,
	type UsageSource,
} from "./lease-protocol.ts";

// One AccountLedger per payer (named by the payer's address). It is the payer's
// source of truth for API keys, balance, credit leases and holds, per-key
// requests- and tokens-per-minute limits, idempotent retries and the record of
// each request.
//
// The request path usually makes no call here at all: `sync` leases a slice of
// the payer's credit and of the key's requests/tokens per minute to one gateway
// isolate (a lease), which admits requests against it in memory and reports the
// finished ones back in batches (one `sync` per lease every ~200 ms, or as soon as
// 64 are waiting; one SQLite transaction for the batch). Requests with an Idempotency-Key take the
// per-request path instead: `authorize` (key, rates, credit and the idempotency
// record checked in one call, no awaited storage write), then `commit`.
//
// Invariant: a payer can never be charged more than their balance. Credit leased
// to an isolate or held for a request is unavailable to everything else until it
// is charged or returned; a request's charge is min(actual cost, its hold) and a
// lease's charges never exceed what it was granted, so the sum of charges never
// exceeds what was available. Rate limits count leased allowances as used until
// the lease reports what it really used, so they hold across isolates too.

export interface KeyInput {
	keyId: string;
	keyHash: string;
	prefix: string;
	name: string;
	/** Lifetime spend cap in PACA base units; null for none. */
	spendCap: bigint | null;
	/** Model ids the key may call; null for all. */
	allowedModels: string[] | null;
}

export interface KeyInfo extends Omit<KeyInput, "keyHash"> {
	spent: bigint;
	createdAt: number;
	revokedAt: number | null;
}

export interface AuthorizeInput {
	keyHash: string;
	requestId: string;
	modelId: string;
	/** Upper bound of the request's cost, in base units. */
	maxCost: bigint;
	/** Upper bound of the request's tokens, counted against the key's tokens-per-minute limit. */
	maxTokens: number;
	requestsPerMinute: number;
	tokensPerMinute: number;
	idempotencyKey: string | null;
	/**
	 * What the request under `idempotencyKey` was (a hash of its endpoint and body): a retry
	 * must be the same request to get the first one's answer.
	 */
	fingerprint?: string;
	now: number;
}

export interface StoredResponse {
	status: number;
	contentType: string;
	body: string;
}

export type AuthorizeResult =
	| { ok: true; keyId: string }
	| { ok: false; code: "invalid_api_key" | "model_not_allowed" | "insufficient_quota"; message: string }
	/** `final`: the same request will never get another answer (a key reused for another request), so not worth retrying. */
	| { ok: false; code: "idempotency_conflict"; message: string; final: boolean }
	| { ok: false; code: "rate_limit_exceeded"; message: string; retryAfterSeconds: number }
	| { ok: false; code: "idempotent_replay"; requestId: string; response: StoredResponse | null };

export interface CommitInput {
	requestId: string;
	modelId: string;
	promptTokens: number;
	completionTokens: number;
	/** What the request cost at the model's prices; the charge is capped at the hold. */
	cost: bigint;
	status: RequestStatus;
	usageSource: UsageSource;
	/** For Idempotency-Key replays (non-streaming responses only). */
	response: StoredResponse | null;
	now: number;
}

export interface Generation {
	requestId: string;
	keyId: string;
	modelId: string;
	promptTokens: number;
	completionTokens: number;
	/** Charged amount in base units. */
	cost: bigint;
	status: RequestStatus;
	usageSource: UsageSource;
	createdAt: number;
	finishedAt: number;
}

export interface AccountSnapshot {
	balance: bigint;
	held: bigint;
	available: bigint;
	/** What of `available` may leave through the vault (deposited credit; see `withdrawable`). */
	withdrawable: bigint;
	totalCredited: bigint;
	totalSpent: bigint;
}

interface LeaseState {
	leaseId: string;
	keyId: string;
	/** Credit granted and charged since the lease opened (both only grow). */
	credit: bigint;
	charged: bigint;
	requests: number;
	usedRequests: number;
	tokens: number;
	usedTokens: number;
	issued: number;
	inFlight: number[];
	/** The `snapshot` of the sync `inFlight` came from (absent in leases stored before it existed). */
	snapshot?: number;
	lastSync: number;
}

/** A lease with nothing in flight that has not synced for this long is returned (its isolate went away). */
const LEASE_TTL_MS = 30_000;

interface Hold {
	keyId: string;
	modelId: string;
	amount: bigint;
	/** The request's token bound, counted in the key's window until commit says what it used. */
	tokens: number;
	idempotencyKey: string | null;
	/** The request's fingerprint (AuthorizeInput), kept with its Idempotency-Key (absent in holds stored before it existed). */
	fingerprint?: string;
	createdAt: number;
}

interface KeyRow extends Record<string, SqlStorageValue> {
	key_id: string;
	key_hash: string;
	prefix: string;
	name: string;
	spend_cap: string | null;
	spent: string;
	allowed_models: string | null;
	created_at: number;
	revoked_at: number | null;
}

const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
const TOKEN_WINDOW_MS = 60_000;
/** A hold older than this belongs to a request whose Worker died; the alarm releases it. */
const HOLD_TTL_MS = 15 * 60_000;
const MAINTENANCE_INTERVAL_MS = 10 * 60_000;
/**
 * Revoked keys kept (listed, most recently revoked first to go last): older ones are deleted.
 * A deleted key is refused as a revoked one is (no row: invalid_api_key); without this, creating
 * and revoking keys in a loop grew the ledger's memory and every key listing without end.
 */
export const KEPT_REVOKED_KEYS = 100;

export class AccountLedger extends DurableObject<Cloudflare.Env> {
	private readonly sql: SqlStorage;
	private readonly holds = new Map<string, Hold>();
	/** Keys by hash, loaded once; every change goes through this object, so it stays exact. */
	private keys = new Map<string, KeyRow>();
	/** Per key: the last minute's requests (time, tokens); leases' unreported allowances are added on top. */
	private readonly windows = new Map<string, Map<number, WindowBucket>>();
	private readonly leases = new Map<string, LeaseState>();
	private readonly waiters = new Map<string, Array<() => void>>();
	private balance = 0n;
	/**
	 * Credit no deposit backs (an admin's, a test's) not yet spent: spendable through the API,
	 * never withdrawn (see `withdrawable`). Spending takes from it first.
	 */
	private unbackedLeft = 0n;

	constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
		super(ctx, env);
		this.sql = ctx.storage.sql;
		ctx.blockConcurrencyWhile(async () => {
			this.sql.exec(`
				CREATE TABLE IF NOT EXISTS account (
					id INTEGER PRIMARY KEY CHECK (id = 1),
					balance TEXT NOT NULL, total_credited TEXT NOT NULL, total_spent TEXT NOT NULL
				);
				INSERT OR IGNORE INTO account VALUES (1, '0', '0', '0');
				CREATE TABLE IF NOT EXISTS keys (
					key_id TEXT PRIMARY KEY,
					key_hash TEXT NOT NULL UNIQUE,
					prefix TEXT NOT NULL,
					name TEXT NOT NULL,
					spend_cap TEXT,
					spent TEXT NOT NULL DEFAULT '0',
					allowed_models TEXT,
					created_at INTEGER NOT NULL,
					revoked_at INTEGER
				);
				CREATE TABLE IF NOT EXISTS credits (
					credit_id TEXT PRIMARY KEY, amount TEXT NOT NULL, source TEXT NOT NULL, created_at INTEGER NOT NULL
				);
				CREATE TABLE IF NOT EXISTS credit_reversals (
					credit_id TEXT PRIMARY KEY, reversed TEXT NOT NULL, shortfall TEXT NOT NULL, created_at INTEGER NOT NULL,
					unbacked_removed TEXT NOT NULL DEFAULT '0'
				);
				CREATE TABLE IF NOT EXISTS withdrawal_locks (
					withdrawal_id TEXT PRIMARY KEY, amount TEXT NOT NULL, created_at INTEGER NOT NULL
				);
				CREATE TABLE IF NOT EXISTS withdrawal_refusals (withdrawal_id TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
				CREATE TABLE IF NOT EXISTS requests (
					request_id TEXT PRIMARY KEY,
					key_id TEXT NOT NULL, model_id TEXT NOT NULL,
					prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
					cost TEXT NOT NULL, status TEXT NOT NULL, usage_source TEXT NOT NULL,
					created_at INTEGER NOT NULL, finished_at INTEGER NOT NULL
				);
				CREATE TABLE IF NOT EXISTS idempotency (
					key_id TEXT NOT NULL, idempotency_key TEXT NOT NULL,
					request_id TEXT NOT NULL, response TEXT, created_at INTEGER NOT NULL, fingerprint TEXT,
					PRIMARY KEY (key_id, idempotency_key)
				);
			`);
			this.balance = BigInt(this.sql.exec<{ balance: string }>("SELECT balance FROM account").one().balance);
			this.unbackedLeft = this.loadUnbacked();
			this.keys = new Map(
				this.sql
					.exec<KeyRow>("SELECT * FROM keys")
					.toArray()
					.map((k) => [k.key_hash, k]),
			);
			// Ledgers from before credit_reversals kept how much unbacked credit a reversal removed.
			const reversalColumns = this.sql.exec<{ name: string }>("PRAGMA table_info(credit_reversals)").toArray();
			if (!reversalColumns.some((c) => c.name === "unbacked_removed")) {
				this.sql.exec("ALTER TABLE credit_reversals ADD COLUMN unbacked_removed TEXT NOT NULL DEFAULT '0'");
			}
			// Ledgers from before request fingerprints kept which request an Idempotency-Key ran.
			const idempotencyColumns = this.sql.exec<{ name: string }>("PRAGMA table_info(idempotency)").toArray();
			if (!idempotencyColumns.some((c) => c.name === "fingerprint")) {
				this.sql.exec("ALTER TABLE idempotency ADD COLUMN fingerprint TEXT");
			}
			// Holds of requests in flight when the object last stopped.
			for (const [name, hold] of await ctx.storage.list<Hold>({ prefix: "hold:" })) {
				this.holds.set(name.slice("hold:".length), hold);
			}
			for (const [name, lease] of await ctx.storage.list<LeaseState>({ prefix: "lease:" })) {
				this.leases.set(name.slice("lease:".length), lease);
			}
		});
	}

	// ── Keys ────────────────────────────────────────────────────────────────

	/** Registers a key; returns it as listings show it. */
	async addKey(input: KeyInput): Promise<KeyInfo> {
		const now = Date.now();
		this.sql.exec(
			`INSERT INTO keys (key_id, key_hash, prefix, name, spend_cap, allowed_models, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			input.keyId,
			input.keyHash,
			input.prefix,
			input.name,
			input.spendCap?.toString() ?? null,
			input.allowedModels ? JSON.stringify(input.allowedModels) : null,
			now,
		);
		const row = this.sql.exec<KeyRow>("SELECT * FROM keys WHERE key_id = ?", input.keyId).one();
		this.keys.set(row.key_hash, row);
		await this.ensureMaintenance();
		return toKeyInfo(row);
	}

	/** Revokes a key (again: changes nothing); returns it as revoked, or null when this payer has no such key. */
	async revokeKey(keyId: string): Promise<KeyInfo | null> {
		const now = Date.now();
		this.sql.exec("UPDATE keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", now, keyId);
		let revoked: KeyInfo | null = null;
		for (const row of this.keys.values()) {
			if (row.key_id !== keyId) continue;
			if (row.revoked_at === null) row.revoked_at = now;
			revoked = toKeyInfo(row);
		}
		// Leases of the key admit nothing more from their next sync on (at most LEASE_USE_MS away).
		this.pruneRevokedKeys();
		return revoked;
	}

	/** Deletes revoked keys beyond the KEPT_REVOKED_KEYS most recently revoked. */
	private pruneRevokedKeys(): void {
		const stale = this.sql
			.exec<{ key_id: string; key_hash: string }>(
				"SELECT key_id, key_hash FROM keys WHERE revoked_at IS NOT NULL ORDER BY revoked_at DESC, created_at DESC LIMIT -1 OFFSET ?",
				KEPT_REVOKED_KEYS,
			)
			.toArray();
		for (const key of stale) {
			this.sql.exec("DELETE FROM keys WHERE key_id = ?", key.key_id);
			this.keys.delete(key.key_hash);
		}
	}

	listKeys(): KeyInfo[] {
		return [...this.keys.values()].map(toKeyInfo).sort((a, b) => a.createdAt - b.createdAt);
	}

	// ── Credits ─────────────────────────────────────────────────────────────

	/**
	 * Adds credit once per `creditId` (an idempotency key, a deposit's tx hash + log index, ...).
	 * A credit that was reversed (a deposit a reorg removed) applies again when credited again
	 * (a later reorg brought the same log back): it gives back what the reversal took, so the
	 * payer ends as if the deposit had never left. Never twice while credited.
	 * `amount` in the answer is what `creditId` was first credited with: a caller that reused an
	 * id for another amount can tell (the admin API answers 409 then).
	 */
	async credit(creditId: string, amount: bigint, source: string): Promise<{ applied: boolean; balance: bigint; amount: bigint }> {
		if (amount <= 0n) throw new RangeError("credit amount must be positive");
		const inserted = this.sql.exec(
			"INSERT OR IGNORE INTO credits (credit_id, amount, source, created_at) VALUES (?, ?, ?, ?)",
			creditId,
			amount.toString(),
			source,
			Date.now(),
		).rowsWritten;
		let unbackedBack = 0n;
		let first = amount;
		if (inserted === 0) {
			first = BigInt(this.sql.exec<{ amount: string }>("SELECT amount FROM credits WHERE credit_id = ?", creditId).one().amount);
			const undone = this.sql
				.exec<{ reversed: string; unbacked_removed: string; source: string }>(
					"SELECT r.reversed, r.unbacked_removed, c.source FROM credit_reversals r JOIN credits c USING (credit_id) WHERE r.credit_id = ?",
					creditId,
				)
				.toArray()[0];
			// Only a deposit comes back (a reorg), as it was first credited; any other id stays used once reversed.
			if (!undone || !isDeposit(undone.source)) return { applied: false, balance: this.balance, amount: first };
			// Credited again: the reversal is undone (a later reorg may reverse the credit once more),
			// the unbacked (admin) credit it took off with it too, so that stays out of withdrawals.
			this.sql.exec("DELETE FROM credit_reversals WHERE credit_id = ?", creditId);
			amount = BigInt(undone.reversed);
			unbackedBack = BigInt(undone.unbacked_removed);
		}
		if (!isDeposit(source)) this.setUnbacked(this.unbackedLeft + amount);
		const account = this.totals();
		this.balance += amount;
		this.sql.exec(
			"UPDATE account SET balance = ?, total_credited = ? WHERE id = 1",
			this.balance.toString(),
			(account.totalCredited + amount).toString(),
		);
		if (unbackedBack > 0n) {
			const unbacked = this.unbackedLeft + unbackedBack;
			this.setUnbacked(unbacked < this.balance ? unbacked : this.balance);
		}
		return { applied: true, balance: this.balance, amount: first };
	}

	/**
	 * Undoes a credit (a deposit that a chain reorganisation removed), once per
	 * `creditId` (credited again, it can be reversed again). Takes back at most
	 * what is available (balance minus holds):
	 * credit the payer already spent stays spent and is returned as `shortfall`
	 * for the operator, never turned into a negative balance. Unknown ids change nothing.
	 */
	async reverseCredit(
		creditId: string,
	): Promise<{ applied: boolean; amount: bigint; reversed: bigint; shortfall: bigint; balance: bigint }> {
		const done = this.sql
			.exec<{ reversed: string; shortfall: string }>(
				"SELECT reversed, shortfall FROM credit_reversals WHERE credit_id = ?",
				creditId,
			)
			.toArray()[0];
		const credited = this.sql
			.exec<{ amount: string; source: string }>("SELECT amount, source FROM credits WHERE credit_id = ?", creditId)
			.toArray()[0];
		const amount = credited ? BigInt(credited.amount) : 0n;
		if (done) {
			return {
				applied: false,
				amount,
				reversed: BigInt(done.reversed),
				shortfall: BigInt(done.shortfall),
				balance: this.balance,
			};
		}
		if (!credited) return { applied: false, amount: 0n, reversed: 0n, shortfall: 0n, balance: this.balance };
		const available = this.balance - this.heldTotal();
		const reversed = available <= 0n ? 0n : amount < available ? amount : available;
		const shortfall = amount - reversed;
		const account = this.totals();
		this.balance -= reversed;
		// Unbacked credit is part of the balance: a reversed admin credit takes it down, and
		// whatever was reversed, no more of it is left than the balance (a deposit reversed after
		// a withdrawal can take the admin credit's share; kept, it would hold back a later deposit).
		const unbackedBefore = this.unbackedLeft;
		let unbacked = unbackedBefore;
		if (!isDeposit(credited.source)) unbacked -= reversed < unbacked ? reversed : unbacked;
		if (unbacked > this.balance) unbacked = this.balance > 0n ? this.balance : 0n;
		if (unbacked !== unbackedBefore) this.setUnbacked(unbacked);
		this.sql.exec(
			"UPDATE account SET balance = ?, total_credited = ? WHERE id = 1",
			this.balance.toString(),
			(account.totalCredited - reversed).toString(),
		);
		this.sql.exec(
			"INSERT INTO credit_reversals (credit_id, reversed, shortfall, created_at, unbacked_removed) VALUES (?, ?, ?, ?, ?)",
			creditId,
			reversed.toString(),
			shortfall.toString(),
			Date.now(),
			(unbackedBefore - unbacked).toString(),
		);
		if (shortfall > 0n) console.warn(`credit ${creditId} reversed with a shortfall of ${shortfall} base units (already spent)`);
		return { applied: true, amount, reversed, shortfall, balance: this.balance };
	}

	/**
	 * Takes `amount` out of the spendable balance for a withdrawal, once per
	 * `withdrawalId` (the on-chain id RevenueVault.payWithdrawal is called with).
	 * The settler pays only withdrawals whose lock it finds here, so credit that
	 * leaves through the vault can no longer be spent through the API. Not ok with
	 * a `conflict` when the id is locked for another amount or was refused (see
	 * `refuseWithdrawal`); not ok without one when the credit is not there.
	 */
	async lockWithdrawal(
		withdrawalId: string,
		amount: bigint,
	): Promise<{ ok: boolean; available: bigint; conflict?: "amount" | "refused" }> {
		if (amount <= 0n) throw new RangeError("withdrawal amount must be positive");
		const existing = this.withdrawalLock(withdrawalId);
		const available = this.withdrawable();
		if (existing) return existing.amount === amount ? { ok: true, available } : { ok: false, available, conflict: "amount" };
		if (this.withdrawalRefused(withdrawalId)) return { ok: false, available, conflict: "refused" };
		if (amount > available) return { ok: false, available };
		this.balance -= amount;
		this.sql.exec("UPDATE account SET balance = ? WHERE id = 1", this.balance.toString());
		this.sql.exec(
			"INSERT INTO withdrawal_locks (withdrawal_id, amount, created_at) VALUES (?, ?, ?)",
			withdrawalId,
			amount.toString(),
			Date.now(),
		);
		return { ok: true, available: available - amount };
	}

	/**
	 * Gives up a withdrawal of `amount` that was never paid (the settler checks the vault
	 * first), unless it is locked for that very amount: a lock of another amount is released
	 * (its credit returns to the balance), and the id can never be locked afterwards, so a lock
	 * that arrives late cannot strand credit behind a refused request.
	 */
	async refuseWithdrawal(withdrawalId: string, amount: bigint): Promise<{ refused: boolean; released: bigint }> {
		const existing = this.withdrawalLock(withdrawalId);
		if (existing?.amount === amount) return { refused: false, released: 0n };
		if (existing) {
			this.balance += existing.amount;
			this.sql.exec("UPDATE account SET balance = ? WHERE id = 1", this.balance.toString());
			this.sql.exec("DELETE FROM withdrawal_locks WHERE withdrawal_id = ?", withdrawalId);
		}
		this.sql.exec(
			"INSERT OR IGNORE INTO withdrawal_refusals (withdrawal_id, created_at) VALUES (?, ?)",
			withdrawalId,
			Date.now(),
		);
		return { refused: true, released: existing?.amount ?? 0n };
	}

	/**
	 * What may leave through the vault: the balance less the credit no deposit backs and
	 * less what is held, whichever is more (held requests are charged to that credit first).
	 * Only deposits put PACA in the vault's escrow; paid out, unbacked credit would take
	 * other payers' deposits.
	 */
	private withdrawable(held = this.heldTotal()): bigint {
		const kept = held > this.unbackedLeft ? held : this.unbackedLeft;
		return this.balance > kept ? this.balance - kept : 0n;
	}

	/** The unbacked credit left, as stored; a ledger from before it was kept starts from its credits less all it spent. */
	private loadUnbacked(): bigint {
		this.sql.exec("CREATE TABLE IF NOT EXISTS unbacked (id INTEGER PRIMARY KEY CHECK (id = 1), amount TEXT NOT NULL)");
		const row = this.sql.exec<{ amount: string }>("SELECT amount FROM unbacked").toArray()[0];
		if (row) return BigInt(row.amount);
		let unbacked = 0n;
		for (const credit of this.sql.exec<{ amount: string; source: string }>("SELECT amount, source FROM credits")) {
			if (!isDeposit(credit.source)) unbacked += BigInt(credit.amount);
		}
		const left = unbacked - this.totals().totalSpent;
		this.sql.exec("INSERT INTO unbacked VALUES (1, ?)", (left > 0n ? left : 0n).toString());
		return left > 0n ? left : 0n;
	}

	private setUnbacked(amount: bigint): void {
		this.unbackedLeft = amount;
		this.sql.exec("UPDATE unbacked SET amount = ? WHERE id = 1", amount.toString());
	}

	/** The lock of a withdrawal, or null when this payer never locked it. */
	withdrawalLock(withdrawalId: string): { amount: bigint; createdAt: number } | null {
		const row = this.sql
			.exec<{ amount: string; created_at: number }>(
				"SELECT amount, created_at FROM withdrawal_locks WHERE withdrawal_id = ?",
				withdrawalId,
			)
			.toArray()[0];
		return row ? { amount: BigInt(row.amount), createdAt: row.created_at } : null;
	}

	private withdrawalRefused(withdrawalId: string): boolean {
		return this.sql.exec("SELECT 1 FROM withdrawal_refusals WHERE withdrawal_id = ?", withdrawalId).toArray().length > 0;
	}

	account(): AccountSnapshot {
		const held = this.heldTotal();
		return {
			balance: this.balance,
			held,
			available: this.balance - held,
			withdrawable: this.withdrawable(held),
			...this.totals(),
		};
	}

	/** Lifetime totals, as stored (the balance lives in memory, holds and leases are summed by `account`). */
	private totals(): { totalCredited: bigint; totalSpent: bigint } {
		const row = this.sql
			.exec<{ total_credited: string; total_spent: string }>("SELECT total_credited, total_spent FROM account")
			.one();
		return { totalCredited: BigInt(row.total_credited), totalSpent: BigInt(row.total_spent) };
	}

	// ── The request path ────────────────────────────────────────────────────

	authorize(input: AuthorizeInput): AuthorizeResult {
		const key = this.keys.get(input.keyHash);
		if (!key || key.revoked_at !== null) {
			return { ok: false, code: "invalid_api_key", message: "Incorrect API key provided, or the key was revoked." };
		}
		const allowed = allowedModelsOf(key);
		if (allowed && !allowed.includes(input.modelId)) {
			return { ok: false, code: "model_not_allowed", message: `This API key may not call the model '${input.modelId}'.` };
		}

		if (input.idempotencyKey !== null) {
			const replay = this.replayFor(key.key_id, input.idempotencyKey, input.fingerprint, input.now);
			if (replay) return replay;
		}

		const limited = this.rateRefusal(
			key.key_id,
			{ requests: 1, tokens: input.maxTokens },
			{ requests: input.requestsPerMinute, tokens: input.tokensPerMinute },
			input.now,
		);
		if (limited) return { ok: false, code: "rate_limit_exceeded", ...limited };

		const available = this.balance - this.heldTotal();
		if (input.maxCost > available) {
			return {
				ok: false,
				code: "insufficient_quota",
				message: `Insufficient credit: this request may cost up to ${input.maxCost} base units and ${available < 0n ? 0n : available} are available. Deposit PACA or lower max_tokens.`,
			};
		}
		if (key.spend_cap !== null && this.spendCapRoom(key) < input.maxCost) {
			return { ok: false, code: "insufficient_quota", message: "This API key has reached its spend cap." };
		}

		const hold: Hold = {
			keyId: key.key_id,
			modelId: input.modelId,
			amount: input.maxCost,
			tokens: input.maxTokens,
			idempotencyKey: input.idempotencyKey,
			...(input.fingerprint !== undefined && { fingerprint: input.fingerprint }),
			createdAt: input.now,
		};
		this.holds.set(input.requestId, hold);
		this.addToWindow(key.key_id, input.now, 1, input.maxTokens);
		// Mirrored so a restart keeps in-flight holds; not awaited, so the caller does not wait on storage.
		void this.ctx.storage.put(`hold:${input.requestId}`, hold, { allowUnconfirmed: true });
		return { ok: true, keyId: key.key_id };
	}

	/** Charges a finished request (capped at its hold) and releases the rest. Repeating it changes nothing. */
	async commit(input: CommitInput): Promise<{ charged: bigint }> {
		const hold = this.holds.get(input.requestId);
		if (!hold) {
			const done = this.sql
				.exec<{ cost: string }>("SELECT cost FROM requests WHERE request_id = ?", input.requestId)
				.toArray()[0];
			return { charged: done ? BigInt(done.cost) : 0n };
		}
		const charge = input.cost < hold.amount ? input.cost : hold.amount;
		if (input.cost > hold.amount) {
			console.warn(`request ${input.requestId} cost ${input.cost} above its hold ${hold.amount}; charged the hold`);
		}
		this.holds.delete(input.requestId);
		// The window counted the request's upper bound; from now on it counts what was used.
		this.addToWindow(hold.keyId, hold.createdAt, 0, input.promptTokens + input.completionTokens - hold.tokens);
		this.insertRequest(input.requestId, hold.keyId, charge, { ...input, createdAt: hold.createdAt, finishedAt: input.now });
		this.spend(
			[...this.keys.values()].find((k) => k.key_id === hold.keyId),
			charge,
		);
		// A request that failed and cost nothing did not run (nothing was charged): its
		// Idempotency-Key stays free, so a retry runs. One that succeeded or was charged is kept
		// for replays (or a 409 when its body was not kept).
		if (hold.idempotencyKey !== null && (input.status !== "error" || charge > 0n)) {
			this.sql.exec(
				"INSERT OR REPLACE INTO idempotency (key_id, idempotency_key, request_id, response, created_at, fingerprint) VALUES (?, ?, ?, ?, ?, ?)",
				hold.keyId,
				hold.idempotencyKey,
				input.requestId,
				input.response ? JSON.stringify(input.response) : null,
				input.now,
				hold.fingerprint ?? null,
			);
		}
		await this.ctx.storage.delete(`hold:${input.requestId}`);
		this.wake(input.requestId);
		return { charged: charge };
	}

	/** Releases a hold without charging (the request failed before producing anything). */
	async release(requestId: string, now = Date.now()): Promise<void> {
		const hold = this.holds.get(requestId);
		if (!hold) return;
		await this.commit({
			requestId,
			modelId: hold.modelId,
			promptTokens: 0,
			completionTokens: 0,
			cost: 0n,
			status: "error",
			usageSource: "none",
			response: null,
			now,
		});
	}

	// ── Leases (the usual request path) ─────────────────────────────────────

	/**
	 * Everything a gateway isolate tells the ledger about one lease, in one call:
	 * finished requests to charge (always applied, idempotent by request id, in one
	 * transaction), what is still in flight, and optionally a request for more
	 * credit and rate allowance (refused as a whole when `need` cannot be met) or
	 * the lease's end. A revoked key's lease is closed at its next sync.
	 */
	sync(input: LeaseSyncInput): LeaseSyncResult {
		const now = input.now;
		const key = this.keys.get(input.keyHash);
		let lease = this.liveLease(input.leaseId, now);
		if (lease && (!key || lease.keyId !== key.key_id)) lease = null;

		const charges = key ? this.chargeLeaseRecords(input.leaseId, lease, key, input.records, now) : input.records.map(() => 0n);
		if (lease) observe(lease, input, now);

		let refusal: LeaseSyncResult["refusal"] = null;
		// (A lease is only ever of the key it was asked for, so a revoked key is all it takes.)
		const keyGone = !key || key.revoked_at !== null;
		if (keyGone) {
			refusal = { code: "invalid_api_key", message: "Incorrect API key provided, or the key was revoked.", retryAfterSeconds: 0 };
		} else if (input.need || input.want) {
			if (!lease && !input.create) {
				refusal = { code: "lease_unknown", message: "The lease ended; open a new one.", retryAfterSeconds: 0 };
			} else {
				const candidate = lease ?? newLease(input.leaseId, key.key_id, now);
				refusal = this.grant(candidate, key, input, now);
				if (!refusal && !lease) {
					lease = candidate;
					observe(lease, input, now);
					this.leases.set(lease.leaseId, lease);
				}
			}
		}

		if (lease) {
			if (input.close || (keyGone && lease.inFlight.length === 0)) {
				this.leases.delete(lease.leaseId);
				void this.ctx.storage.delete(`lease:${lease.leaseId}`);
			} else {
				// Mirrored so a restart keeps the lease as charged (a revoked key's lease too, while its
				// requests run: it grants nothing more, but its charges still count against its grant).
				// Not awaited, like holds.
				void this.ctx.storage.put(`lease:${lease.leaseId}`, lease, { allowUnconfirmed: true });
			}
			if (input.close || keyGone) lease = null;
		}
		this.wake(`lease:${input.leaseId}`);
		return {
			charges,
			lease:
				lease && key
					? {
							keyId: lease.keyId,
							allowedModels: allowedModelsOf(key),
							credit: lease.credit,
							requests: lease.requests,
							tokens: lease.tokens,
							useUntil: now + LEASE_USE_MS,
						}
					: null,
			refusal,
		};
	}

	/** Adds to a lease what it asks for, within the balance, the key's spend cap and rates; or says why not. */
	private grant(lease: LeaseState, key: KeyRow, input: LeaseSyncInput, now: number): LeaseSyncResult["refusal"] {
		const need = input.need ?? { credit: 0n, requests: 0, tokens: 0 };
		const want = input.want ?? need;
		const available = this.balance - this.heldTotal(now);
		const capRoom = key.spend_cap === null ? available : this.spendCapRoom(key);
		const creditRoom = available < capRoom ? available : capRoom;
		if (creditRoom < need.credit) {
			return {
				code: "insufficient_quota",
				message:
					capRoom < available
						? "This API key has reached its spend cap."
						: `Insufficient credit: this request may cost up to ${need.credit} base units and ${available < 0n ? 0n : available} are available. Deposit PACA or lower max_tokens.`,
				retryAfterSeconds: 0,
			};
		}
		const limits = { requests: input.requestsPerMinute, tokens: input.tokensPerMinute };
		const used = this.windowUse(key.key_id, now);
		const limited = this.rateRefusal(key.key_id, need, limits, now, used);
		if (limited) return { code: "rate_limit_exceeded", ...limited };
		// A lease takes what it needs, or up to half of what is left, so other isolates
		// serving the same key still find room.
		const halfCredit = creditRoom / 2n;
		const wantCredit = want.credit < halfCredit ? want.credit : halfCredit;
		lease.credit += need.credit > wantCredit ? need.credit : wantCredit;
		lease.requests += Math.max(need.requests, Math.min(want.requests, Math.floor((limits.requests - used.requests) / 2)));
		lease.tokens += Math.max(need.tokens, Math.min(want.tokens, Math.floor((limits.tokens - used.tokens) / 2)));
		return null;
	}

	/** Charges a lease's finished requests; a request id seen before is answered with its first charge. */
	private chargeLeaseRecords(leaseId: string, lease: LeaseState | null, key: KeyRow, records: LeaseRecord[], now: number) {
		let spent = 0n;
		// A lease's charges stay within its grant (which was within the key's spend cap); a lease
		// the ledger already let go of (its isolate was silent past the TTL) is charged from what
		// is available now and from what is left of the key's spend cap, less what this batch has
		// charged so far.
		let available = 0n;
		if (!lease) {
			available = this.balance - this.heldTotal(now);
			const capRoom = key.spend_cap === null ? available : this.spendCapRoom(key);
			if (capRoom < available) available = capRoom;
		}
		const charges = records.map((record) => {
			const requestId = leaseRequestId(leaseId, record.seq);
			let charge = record.cost < record.hold ? record.cost : record.hold;
			const room = lease ? leaseUnused(lease) : available - spent;
			if (charge > room) charge = room > 0n ? room : 0n;
			if (!this.insertRequest(requestId, key.key_id, charge, record)) {
				// Reported before (a retried sync): its first charge stands.
				return BigInt(this.sql.exec<{ cost: string }>("SELECT cost FROM requests WHERE request_id = ?", requestId).one().cost);
			}
			const tokens = record.promptTokens + record.completionTokens;
			if (lease) {
				lease.charged += charge;
				lease.usedRequests += 1;
				lease.usedTokens += tokens;
			}
			this.addToWindow(key.key_id, record.createdAt, 1, tokens);
			spent += charge;
			return charge;
		});
		this.spend(key, spent);
		return charges;
	}

	/** The request's row (what GET /v1/generations answers); false when it was recorded before. */
	private insertRequest(
		requestId: string,
		keyId: string,
		charge: bigint,
		r: Pick<LeaseRecord, "modelId" | "promptTokens" | "completionTokens" | "status" | "usageSource" | "createdAt" | "finishedAt">,
	): boolean {
		return (
			this.sql.exec(
				`INSERT OR IGNORE INTO requests (request_id, key_id, model_id, prompt_tokens, completion_tokens, cost, status,
					usage_source, created_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				requestId,
				keyId,
				r.modelId,
				r.promptTokens,
				r.completionTokens,
				charge.toString(),
				r.status,
				r.usageSource,
				r.createdAt,
				r.finishedAt,
			).rowsWritten > 0
		);
	}

	/** Takes `amount` from the balance into the account's and the key's spent totals (the one place money leaves). */
	private spend(key: KeyRow | undefined, amount: bigint): void {
		if (amount === 0n) return;
		// Unbacked credit goes first (it can never be withdrawn; deposits can).
		if (this.unbackedLeft > 0n) this.setUnbacked(amount < this.unbackedLeft ? this.unbackedLeft - amount : 0n);
		this.balance -= amount;
		this.sql.exec(
			"UPDATE account SET balance = ?, total_spent = ? WHERE id = 1",
			this.balance.toString(),
			(this.totals().totalSpent + amount).toString(),
		);
		if (key) {
			key.spent = (BigInt(key.spent) + amount).toString();
			this.sql.exec("UPDATE keys SET spent = ? WHERE key_id = ?", key.spent, key.key_id);
		}
	}

	/** The lease, unless it is unknown or its isolate has been silent past its TTL (then it is returned). */
	private liveLease(leaseId: string, now: number): LeaseState | null {
		const lease = this.leases.get(leaseId);
		if (!lease) return null;
		const ttl = lease.inFlight.length > 0 ? HOLD_TTL_MS : LEASE_TTL_MS;
		if (now - lease.lastSync <= ttl) return lease;
		this.leases.delete(leaseId);
		void this.ctx.storage.delete(`lease:${leaseId}`);
		return null;
	}

	private wake(name: string): void {
		for (const wake of this.waiters.get(name) ?? []) wake();
		this.waiters.delete(name);
	}

	private waitFor(name: string, ms: number): Promise<void> {
		return new Promise<void>((resolve) => {
			const timer = setTimeout(resolve, ms);
			const list = this.waiters.get(name) ?? [];
			list.push(() => {
				clearTimeout(timer);
				resolve();
			});
			this.waiters.set(name, list);
		});
	}

	/**
	 * One request's tokens and cost, for the holder of a valid key of this payer.
	 * A request still in flight is waited for (up to `waitMs`), so the answer is
	 * right as soon as the response has ended, with no eventual-consistency gap.
	 */
	async generation(keyHash: string, requestId: string, waitMs = 5_000): Promise<Generation | "invalid_key" | null> {
		const key = this.keys.get(keyHash);
		if (!key || key.revoked_at !== null) return "invalid_key";
		const deadline = Date.now() + waitMs;
		// Wait while the request may still be running: held here, or admitted under a lease
		// whose isolate has not reported it finished (it reports within ~200 ms of the end).
		for (let left = waitMs; left > 0; left = deadline - Date.now()) {
			if (this.holds.has(requestId)) {
				await this.waitFor(requestId, left);
				continue;
			}
			const { leaseId, seq } = parseLeaseRequestId(requestId);
			const lease = this.leases.get(leaseId);
			const running = lease !== undefined && (seq > lease.issued || lease.inFlight.includes(seq));
			if (!running || this.sql.exec("SELECT 1 FROM requests WHERE request_id = ?", requestId).toArray().length > 0) break;
			await this.waitFor(`lease:${lease.leaseId}`, left);
		}
		const row = this.sql
			.exec<{
				request_id: string;
				key_id: string;
				model_id: string;
				prompt_tokens: number;
				completion_tokens: number;
				cost: string;
				status: string;
				usage_source: string;
				created_at: number;
				finished_at: number;
			}>("SELECT * FROM requests WHERE request_id = ?", requestId)
			.toArray()[0];
		if (!row) return null;
		return {
			requestId: row.request_id,
			keyId: row.key_id,
			modelId: row.model_id,
			promptTokens: row.prompt_tokens,
			completionTokens: row.completion_tokens,
			cost: BigInt(row.cost),
			status: row.status === "ok" ? "ok" : "error",
			usageSource: row.usage_source === "upstream" ? "upstream" : row.usage_source === "counted" ? "counted" : "none",
			createdAt: row.created_at,
			finishedAt: row.finished_at,
		};
	}

	// ── Housekeeping ────────────────────────────────────────────────────────

	override async alarm(): Promise<void> {
		const now = Date.now();
		for (const [requestId, hold] of this.holds) {
			if (now - hold.createdAt > HOLD_TTL_MS) await this.release(requestId, now);
		}
		for (const leaseId of [...this.leases.keys()]) this.liveLease(leaseId, now);
		this.sql.exec("DELETE FROM idempotency WHERE created_at < ?", now - IDEMPOTENCY_TTL_MS);
		await this.ctx.storage.setAlarm(now + MAINTENANCE_INTERVAL_MS);
	}

	private async ensureMaintenance(): Promise<void> {
		if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + MAINTENANCE_INTERVAL_MS);
	}

	/** Credit not spendable now: per-request holds plus what leases were granted and have not charged. */
	private heldTotal(now = Date.now()): bigint {
		let total = 0n;
		for (const hold of this.holds.values()) total += hold.amount;
		for (const leaseId of [...this.leases.keys()]) {
			const lease = this.liveLease(leaseId, now);
			if (lease) total += leaseUnused(lease);
		}
		return total;
	}

	/** How much more the key may hold or lease before its spend cap: cap − spent − held − leased. */
	private spendCapRoom(key: KeyRow): bigint {
		if (key.spend_cap === null) throw new Error("no spend cap");
		let held = 0n;
		for (const hold of this.holds.values()) if (hold.keyId === key.key_id) held += hold.amount;
		for (const lease of this.leases.values()) {
			if (lease.keyId === key.key_id) held += leaseUnused(lease);
		}
		return BigInt(key.spend_cap) - BigInt(key.spent) - held;
	}

	private replayFor(keyId: string, idempotencyKey: string, fingerprint: string | undefined, now: number): AuthorizeResult | null {
		for (const [requestId, hold] of this.holds) {
			if (hold.keyId === keyId && hold.idempotencyKey === idempotencyKey) {
				if (!sameRequest(hold.fingerprint, fingerprint)) return reusedKey(requestId);
				return {
					ok: false,
					code: "idempotency_conflict",
					message: `A request with this Idempotency-Key is still in progress (${requestId}); retry after it finishes.`,
					final: false,
				};
			}
		}
		const done = this.sql
			.exec<{ request_id: string; response: string | null; created_at: number; fingerprint: string | null }>(
				"SELECT request_id, response, created_at, fingerprint FROM idempotency WHERE key_id = ? AND idempotency_key = ?",
				keyId,
				idempotencyKey,
			)
			.toArray()[0];
		if (!done || now - done.created_at > IDEMPOTENCY_TTL_MS) return null;
		// Another request under a used key would get an answer to a question it did not ask.
		if (!sameRequest(done.fingerprint ?? undefined, fingerprint)) return reusedKey(done.request_id);
		return {
			ok: false,
			code: "idempotent_replay",
			requestId: done.request_id,
			response: done.response ? (JSON.parse(done.response) as StoredResponse) : null,
		};
	}

	/** Counts requests and tokens in the key's one-minute window, in one-second buckets. */
	private addToWindow(keyId: string, at: number, requests: number, tokens: number): void {
		let window = this.windows.get(keyId);
		if (!window) {
			window = new Map();
			this.windows.set(keyId, window);
		}
		const second = Math.floor(at / 1000);
		const bucket = window.get(second);
		if (bucket) {
			bucket.requests += requests;
			bucket.tokens += tokens;
		} else window.set(second, { requests, tokens });
	}

	/** The key's buckets still in the window (a bucket counts while any of its second is), oldest first. */
	private liveBuckets(keyId: string, now: number): Array<[number, WindowBucket]> {
		const window = this.windows.get(keyId);
		if (!window) return [];
		for (const second of window.keys()) if ((second + 1) * 1000 <= now - TOKEN_WINDOW_MS) window.delete(second);
		return [...window.entries()].sort((a, b) => a[0] - b[0]);
	}

	/** The key's requests and tokens of the last minute, plus what its leases may still use unreported. */
	private windowUse(keyId: string, now: number): { requests: number; tokens: number } {
		let requests = 0;
		let tokens = 0;
		for (const [, bucket] of this.liveBuckets(keyId, now)) {
			requests += bucket.requests;
			tokens += bucket.tokens;
		}
		for (const leaseId of [...this.leases.keys()]) {
			const lease = this.liveLease(leaseId, now);
			if (lease?.keyId !== keyId) continue;
			requests += Math.max(0, lease.requests - lease.usedRequests);
			tokens += Math.max(0, lease.tokens - lease.usedTokens);
		}
		return { requests, tokens };
	}

	/** Null when `need` fits in the key's one-minute windows now; else the 429's message and Retry-After. */
	private rateRefusal(
		keyId: string,
		need: { requests: number; tokens: number },
		limits: { requests: number; tokens: number },
		now: number,
		used = this.windowUse(keyId, now),
	): { message: string; retryAfterSeconds: number } | null {
		for (const dim of ["requests", "tokens"] as const) {
			if (used[dim] + need[dim] <= limits[dim]) continue;
			const label = dim === "requests" ? "requests per minute" : "tokens per minute";
			let retryAfter = need[dim] > limits[dim] ? 60 : LEASE_USE_MS / 1000;
			let left = used[dim];
			for (const [second, bucket] of this.liveBuckets(keyId, now)) {
				left -= bucket[dim];
				if (left + need[dim] <= limits[dim]) {
					retryAfter = Math.max(1, Math.ceil(((second + 1) * 1000 + TOKEN_WINDOW_MS - now) / 1000));
					break;
				}
			}
			return {
				message: `Rate limit reached for ${label} (limit ${limits[dim]}) on this API key. Try again in ${retryAfter}s.`,
				retryAfterSeconds: retryAfter,
			};
		}
		return null;
	}
}

interface WindowBucket {
	requests: number;
	tokens: number;
}

/** Credit a lease was granted and has not been charged. */
function leaseUnused(lease: LeaseState): bigint {
	const unused = lease.credit - lease.charged;
	return unused > 0n ? unused : 0n;
}

/** What a sync says of its lease's requests; a report older than the one applied leaves it be. */
function observe(lease: LeaseState, input: LeaseSyncInput, now: number): void {
	lease.issued = Math.max(lease.issued, input.issued);
	lease.lastSync = now;
	// (An isolate deployed before snapshots sends none: its report is taken as newest, as it was.)
	if (input.snapshot === undefined || input.snapshot > (lease.snapshot ?? 0)) {
		lease.inFlight = input.inFlight;
		lease.snapshot = input.snapshot;
	}
}

function newLease(leaseId: string, keyId: string, now: number): LeaseState {
	return {
		leaseId,
		keyId,
		credit: 0n,
		charged: 0n,
		requests: 0,
		usedRequests: 0,
		tokens: 0,
		usedTokens: 0,
		issued: 0,
		inFlight: [],
		lastSync: now,
	};
}

// A key's allowlist, parsed once per row object (rows change only through the ledger,
// which never edits allowed_models in place).
const allowlists = new WeakMap<KeyRow, string[] | null>();
function allowedModelsOf(row: KeyRow): string[] | null {
	let list = allowlists.get(row);
	if (list === undefined) {
		list = row.allowed_models ? (JSON.parse(row.allowed_models) as string[]) : null;
		allowlists.set(row, list);
	}
	return list;
}

function toKeyInfo(row: KeyRow): KeyInfo {
	return {
		keyId: row.key_id,
		prefix: row.prefix,
		name: row.name,
		spendCap: row.spend_cap === null ? null : BigInt(row.spend_cap),
		allowedModels: allowedModelsOf(row),
		spent: BigInt(row.spent),
		createdAt: row.created_at,
		revokedAt: row.revoked_at,
	};
}

/**
 * The ledger operations other Workers may perform, by payer: the gateway exposes
 * them as its `Ledgers` RPC entrypoint (workers/gateway/ledgers.ts), which the
 * indexer and the settler reach through a service binding.
 */
export interface LedgerService {
	credit(payer: string, creditId: string, amount: bigint, source: string): Promise<{ applied: boolean; balance: bigint }>;
	reverseCredit(payer: string, creditId: string): Promise<Awaited<ReturnType<AccountLedger["reverseCredit"]>>>;
	withdrawalLock(payer: string, withdrawalId: string): Promise<Awaited<ReturnType<AccountLedger["withdrawalLock"]>>>;
	refuseWithdrawal(
		payer: string,
		withdrawalId: string,
		amount: bigint,
	): Promise<Awaited<ReturnType<AccountLedger["refuseWithdrawal"]>>>;
}

/** Whether two fingerprints are of the same request; one not recorded (older records, callers without one) matches any. */
function sameRequest(first: string | undefined, retry: string | undefined): boolean {
	return first === undefined || retry === undefined || first === retry;
}

function reusedKey(requestId: string): AuthorizeResult {
	return {
		ok: false,
		code: "idempotency_conflict",
		message: `This Idempotency-Key was already used for a different request (${requestId}); use a new key for a new request.`,
		final: true,
	};
}
