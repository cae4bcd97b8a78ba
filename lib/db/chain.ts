import {
	and,
	asc,
	desc,
	eq,
	gt,
	gte,
	inArray,
	isNotNull,
	isNull,
	lt,
	lte,
	notInArray,
	or,
	type SQL,
	type SQLWrapper,
	sql,
} from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { jsonBigint } from "../json.ts";
import { batch, chunksOf, type Db } from "./client.ts";
import {
	chainBlocks,
	chainCursor,
	chainEvents,
	claims,
	creditReversals,
	deposits,
	holders,
	jobLeases,
	modelFeeTotals,
	modelMarkets,
	modelSettlements,
	models,
	settlements,
	settlerEpochs,
	tokenTransfers,
	trades,
	usage,
	usageEpochs,
	usageLeaves,
	withdrawalPayments,
	withdrawals,
} from "./schema.ts";

// D1 queries of the chain index (indexer), the settlement state (settler) and
// the read API. Money stays bigint: rows are summed in TypeScript, never in SQL.

export type Statement = BatchItem<"sqlite">;

export async function runBatch(db: Db, statements: Statement[]): Promise<void> {
	// D1 runs a batch as one transaction; keep batches bounded.
	for (const part of chunksOf(statements, 50)) await batch(db, part);
}

// ── Job leases ──────────────────────────────────────────────────────────────

/** Takes the lease `name` for `ms` unless another holder has it; true when this holder has it now. */
async function acquireLease(db: Db, name: string, holder: string, ms: number, now = Date.now()): Promise<boolean> {
	await db
		.insert(jobLeases)
		.values({ name, holder, expiresAt: now + ms })
		.onConflictDoUpdate({
			target: jobLeases.name,
			set: { holder, expiresAt: now + ms },
			setWhere: sql`${jobLeases.expiresAt} < ${now} OR ${jobLeases.holder} = ${holder}`,
		});
	const row = await db.select().from(jobLeases).where(eq(jobLeases.name, name)).get();
	return row?.holder === holder;
}

async function releaseLease(db: Db, name: string, holder: string): Promise<void> {
	await db.delete(jobLeases).where(and(eq(jobLeases.name, name), eq(jobLeases.holder, holder)));
}

/** A held job lease: `renew()` extends it before a step that writes, and throws if another run took it over. */
export interface JobLease {
	renew(): Promise<void>;
}

export class LeaseLost extends Error {}

/** Runs `job` under the lease `name`; returns null without running it when another run holds the lease. */
export async function withLease<T>(db: Db, name: string, ms: number, job: (lease: JobLease) => Promise<T>): Promise<T | null> {
	const holder = crypto.randomUUID();
	if (!(await acquireLease(db, name, holder, ms))) return null;
	const lease: JobLease = {
		async renew() {
			// A run that outlived its lease (presumed dead) may have been taken over: it must stop
			// before writing over what the new run does.
			if (!(await acquireLease(db, name, holder, ms))) throw new LeaseLost(`lost the lease '${name}' to another run`);
		},
	};
	try {
		return await job(lease);
	} finally {
		await releaseLease(db, name, holder);
	}
}

// ── Cursor and block hashes ─────────────────────────────────────────────────

export type Cursor = typeof chainCursor.$inferSelect;

export function readCursor(db: Db, chainId: number): Promise<Cursor | undefined> {
	return db.select().from(chainCursor).where(eq(chainCursor.chainId, chainId)).get();
}

export function setCursor(db: Db, chainId: number, lastBlock: number, lastHash: string): Statement {
	const row = { chainId, lastBlock, lastHash, updatedAt: Date.now() };
	return db.insert(chainCursor).values(row).onConflictDoUpdate({ target: chainCursor.chainId, set: row });
}

export function deleteCursor(db: Db, chainId: number): Statement {
	return db.delete(chainCursor).where(eq(chainCursor.chainId, chainId));
}

export function recordBlock(db: Db, chainId: number, number: number, hash: string): Statement {
	return db
		.insert(chainBlocks)
		.values({ chainId, number, hash })
		.onConflictDoUpdate({ target: [chainBlocks.chainId, chainBlocks.number], set: { hash } });
}

/** Stored block hashes at or below `atOrBelow`, newest first. */
export function storedBlocks(db: Db, chainId: number, atOrBelow: number, limit = 256) {
	return db
		.select()
		.from(chainBlocks)
		.where(and(eq(chainBlocks.chainId, chainId), lte(chainBlocks.number, atOrBelow)))
		.orderBy(desc(chainBlocks.number))
		.limit(limit)
		.all();
}

/** Deletes the block hashes below `below` (older ones are below any reorg we check for). */
export function pruneBlocks(db: Db, chainId: number, below: number): Statement {
	return db.delete(chainBlocks).where(and(eq(chainBlocks.chainId, chainId), sql`${chainBlocks.number} < ${below}`));
}

// ── Event rows ──────────────────────────────────────────────────────────────

export interface LogKey {
	chainId: number;
	txHash: string;
	logIndex: number;
	blockNumber: number;
	blockHash: string;
}

export function insertEvent(db: Db, key: LogKey, address: string, name: string, args: unknown): Statement {
	return db
		.insert(chainEvents)
		.values({ ...key, address: address.toLowerCase(), name, args: JSON.stringify(args, jsonBigint) })
		.onConflictDoNothing();
}

export const insertDeposit = (db: Db, row: typeof deposits.$inferInsert) => db.insert(deposits).values(row).onConflictDoNothing();
export const insertTrade = (db: Db, row: typeof trades.$inferInsert) => db.insert(trades).values(row).onConflictDoNothing();
export const insertTransfer = (db: Db, row: typeof tokenTransfers.$inferInsert) =>
	db.insert(tokenTransfers).values(row).onConflictDoNothing();
export const insertSettlement = (db: Db, row: typeof settlements.$inferInsert) =>
	db.insert(settlements).values(row).onConflictDoNothing();
export const insertModelSettlement = (db: Db, row: typeof modelSettlements.$inferInsert) =>
	db.insert(modelSettlements).values(row).onConflictDoNothing();
export const insertClaim = (db: Db, row: typeof claims.$inferInsert) => db.insert(claims).values(row).onConflictDoNothing();
export const insertWithdrawalPayment = (db: Db, row: typeof withdrawalPayments.$inferInsert) =>
	db.insert(withdrawalPayments).values(row).onConflictDoNothing();

/** Tables whose rows come from one log each, for rollbacks. */
const LOG_TABLES = [
	chainEvents,
	deposits,
	trades,
	tokenTransfers,
	settlements,
	modelSettlements,
	claims,
	withdrawalPayments,
] as const;

export function deleteLogsAfter(db: Db, chainId: number, block: number): Statement[] {
	return [
		...LOG_TABLES.map((t) => db.delete(t).where(and(eq(t.chainId, chainId), gt(t.blockNumber, block)))),
		db.delete(chainBlocks).where(and(eq(chainBlocks.chainId, chainId), gt(chainBlocks.number, block))),
	];
}

/** Whether any log row or block hash is stored above `block` (a run stopped between its writes and its cursor). */
export async function anythingAfter(db: Db, chainId: number, block: number): Promise<boolean> {
	const [event, stored] = await Promise.all([
		db
			.select({ n: chainEvents.blockNumber })
			.from(chainEvents)
			.where(and(eq(chainEvents.chainId, chainId), gt(chainEvents.blockNumber, block)))
			.limit(1)
			.get(),
		db
			.select({ n: chainBlocks.number })
			.from(chainBlocks)
			.where(and(eq(chainBlocks.chainId, chainId), gt(chainBlocks.number, block)))
			.limit(1)
			.get(),
	]);
	return event !== undefined || stored !== undefined;
}

/** What a rollback past `block` will touch: tokens whose market or holders change, and deposits to reverse. */
export async function touchedAfter(db: Db, chainId: number, block: number) {
	const [events, depositRows] = await Promise.all([
		db
			.select()
			.from(chainEvents)
			.where(and(eq(chainEvents.chainId, chainId), gt(chainEvents.blockNumber, block)))
			.orderBy(asc(chainEvents.blockNumber), asc(chainEvents.logIndex))
			.all(),
		db
			.select()
			.from(deposits)
			.where(and(eq(deposits.chainId, chainId), gt(deposits.blockNumber, block)))
			.all(),
	]);
	return { events, deposits: depositRows };
}

// ── Deposits and credits ────────────────────────────────────────────────────

/** Deposits at or below `atOrBelow` (the cursor: rows above it may belong to a chain a reorg drops) not yet credited. */
export function uncreditedDeposits(db: Db, chainId: number, atOrBelow: number, limit = 200) {
	return db
		.select()
		.from(deposits)
		.where(and(eq(deposits.chainId, chainId), isNull(deposits.creditedAt), lte(deposits.blockNumber, atOrBelow)))
		.orderBy(asc(deposits.blockNumber), asc(deposits.logIndex))
		.limit(limit)
		.all();
}

export function markCredited(db: Db, chainId: number, txHash: string, logIndex: number): Statement {
	return db
		.update(deposits)
		.set({ creditedAt: Date.now() })
		.where(and(eq(deposits.chainId, chainId), eq(deposits.txHash, txHash), eq(deposits.logIndex, logIndex)));
}

/** Marks a deposit's credit as undone (reversed), so it is credited again if its row stays. */
export function markUncredited(db: Db, chainId: number, txHash: string, logIndex: number): Statement {
	return db
		.update(deposits)
		.set({ creditedAt: null })
		.where(and(eq(deposits.chainId, chainId), eq(deposits.txHash, txHash), eq(deposits.logIndex, logIndex)));
}

/** Records a credit's reversal; the latest one when a credit was reversed, credited again and reversed again. */
export function recordReversal(db: Db, row: typeof creditReversals.$inferInsert) {
	const { creditId: _, ...set } = row;
	return db.insert(creditReversals).values(row).onConflictDoUpdate({ target: creditReversals.creditId, set });
}

export function depositsOf(db: Db, payer: string) {
	return db.select().from(deposits).where(eq(deposits.payer, payer.toLowerCase())).orderBy(desc(deposits.blockNumber)).all();
}

export function reversalsOf(db: Db, payer: string) {
	return db.select().from(creditReversals).where(eq(creditReversals.payer, payer.toLowerCase())).all();
}

// ── Markets ─────────────────────────────────────────────────────────────────

export type MarketRow = typeof modelMarkets.$inferSelect;

export function marketByToken(db: Db, token: string): Promise<MarketRow | undefined> {
	return db.select().from(modelMarkets).where(eq(modelMarkets.token, token.toLowerCase())).get();
}

export function marketByModel(db: Db, modelId: string): Promise<MarketRow | undefined> {
	return db.select().from(modelMarkets).where(eq(modelMarkets.modelId, modelId)).get();
}

export function marketsOfChain(db: Db, chainId: number) {
	return db
		.select({ token: modelMarkets.token, sale: modelMarkets.sale, pair: modelMarkets.pair })
		.from(modelMarkets)
		.where(eq(modelMarkets.chainId, chainId))
		.all();
}

/** Markets indexed before model_markets.share_supply existed: the indexer derives it once. */
export async function marketsWithoutShareSupply(db: Db, chainId: number): Promise<string[]> {
	const rows = await db
		.select({ token: modelMarkets.token })
		.from(modelMarkets)
		.where(and(eq(modelMarkets.chainId, chainId), isNull(modelMarkets.shareSupply)))
		.all();
	return rows.map((r) => r.token);
}

export function upsertMarket(db: Db, row: MarketRow): Statement {
	return db.insert(modelMarkets).values(row).onConflictDoUpdate({ target: modelMarkets.token, set: row });
}

export function deleteMarket(db: Db, token: string): Statement {
	return db.delete(modelMarkets).where(eq(modelMarkets.token, token));
}

/** The event that created a token's market (ModelTokenized), if still on the indexed chain. */
export function tokenizedEvent(db: Db, chainId: number, token: string) {
	return db
		.select()
		.from(chainEvents)
		.where(
			and(
				eq(chainEvents.chainId, chainId),
				eq(chainEvents.name, "ModelTokenized"),
				sql`lower(json_extract(${chainEvents.args}, '$.token')) = ${token.toLowerCase()}`,
			),
		)
		.get();
}

export function latestPricing(db: Db, chainId: number, token: string) {
	return db
		.select()
		.from(chainEvents)
		.where(
			and(
				eq(chainEvents.chainId, chainId),
				eq(chainEvents.name, "PricingUpdated"),
				sql`lower(json_extract(${chainEvents.args}, '$.token')) = ${token.toLowerCase()}`,
			),
		)
		.orderBy(desc(chainEvents.blockNumber), desc(chainEvents.logIndex))
		.get();
}

export function graduatedEvent(db: Db, chainId: number, sale: string) {
	return db
		.select()
		.from(chainEvents)
		.where(and(eq(chainEvents.chainId, chainId), eq(chainEvents.name, "Graduated"), eq(chainEvents.address, sale.toLowerCase())))
		.get();
}

export function latestSync(db: Db, chainId: number, pair: string) {
	return db
		.select()
		.from(chainEvents)
		.where(and(eq(chainEvents.chainId, chainId), eq(chainEvents.name, "Sync"), eq(chainEvents.address, pair.toLowerCase())))
		.orderBy(desc(chainEvents.blockNumber), desc(chainEvents.logIndex))
		.get();
}

/** A token's trades, newest first. */
function tradesOf(db: Db, token: string) {
	return db
		.select()
		.from(trades)
		.where(eq(trades.token, token.toLowerCase()))
		.orderBy(desc(trades.blockNumber), desc(trades.logIndex));
}

export function latestTrade(db: Db, token: string) {
	return tradesOf(db, token).get();
}

export function latestModelSettlement(db: Db, token: string) {
	return db
		.select()
		.from(modelSettlements)
		.where(eq(modelSettlements.token, token.toLowerCase()))
		.orderBy(desc(modelSettlements.epoch), desc(modelSettlements.blockNumber))
		.get();
}

export function recentTrades(db: Db, token: string, limit: number) {
	return tradesOf(db, token).limit(limit).all();
}

// ── Holders ─────────────────────────────────────────────────────────────────

export async function transfersOf(db: Db, token: string, account: string) {
	return db
		.select({ from: tokenTransfers.from, to: tokenTransfers.to, value: tokenTransfers.value })
		.from(tokenTransfers)
		.where(and(eq(tokenTransfers.token, token), or(eq(tokenTransfers.from, account), eq(tokenTransfers.to, account))))
		.all();
}

/** 64 hex digits: sorts like the uint256 it encodes. */
function balanceKey(balance: bigint): string {
	return balance.toString(16).padStart(64, "0");
}

export function setHolder(db: Db, token: string, account: string, balance: bigint): Statement {
	if (balance <= 0n) return db.delete(holders).where(and(eq(holders.token, token), eq(holders.account, account)));
	const row = { token, account, balance, balanceKey: balanceKey(balance) };
	return db
		.insert(holders)
		.values(row)
		.onConflictDoUpdate({ target: [holders.token, holders.account], set: row });
}

/** The dead address graduation burns LP tokens to; like the sale and the pair, not a holder. */
export const DEAD_ADDRESS = "0x000000000000000000000000000000000000dead";

/** The balances the holders table has for `accounts` of `token` (an account without a row holds nothing). */
export async function holderBalances(db: Db, token: string, accounts: string[]): Promise<bigint[]> {
	const rows = await db
		.select({ account: holders.account, balance: holders.balance })
		.from(holders)
		.where(and(eq(holders.token, token), inArray(holders.account, accounts)))
		.all();
	return accounts.map((a) => rows.find((r) => r.account === a)?.balance ?? 0n);
}

/**
 * Holders that share revenue: the sale, the pool pair, the dead address and the token contract
 * itself are left out (the token excludes them too). The RevenueVault, which it also excludes,
 * gets no row from the indexer; the indexer's count also names it, for rows from before that.
 */
export async function holderCount(db: Db, token: string, excluded: string[]): Promise<number> {
	const row = await db
		.select({ n: sql<number>`count(*)` })
		.from(holders)
		.where(and(eq(holders.token, token), notInArray(holders.account, [...excluded, token, DEAD_ADDRESS])))
		.get();
	return row?.n ?? 0;
}

export function topHolders(db: Db, token: string, limit: number, excluded: string[]) {
	return db
		.select({ account: holders.account, balance: holders.balance })
		.from(holders)
		.where(
			and(eq(holders.token, token.toLowerCase()), notInArray(holders.account, [...excluded, token.toLowerCase(), DEAD_ADDRESS])),
		)
		.orderBy(desc(holders.balanceKey))
		.limit(limit)
		.all();
}

// ── Mirror into the catalogue's models row ──────────────────────────────────

export function modelById(db: Db, id: string) {
	return db.select().from(models).where(eq(models.id, id)).get();
}

export function modelByToken(db: Db, token: string) {
	return db.select().from(models).where(sql`lower(${models.tokenAddress}) = ${token.toLowerCase()}`).get();
}

export function upsertModelFromMarket(
	db: Db,
	row: {
		id: string;
		displayName: string;
		hfRepo: string;
		hfRevision: string;
		inputPricePerM: bigint;
		outputPricePerM: bigint;
		market: MarketRow;
	},
): Statement {
	const marketFields = {
		tokenAddress: row.market.token,
		saleAddress: row.market.sale,
		poolAddress: row.market.status === "graduated" ? row.market.pair : null,
		imoStatus: row.market.status,
		imoRaised: row.market.raised,
		imoThreshold: row.market.graduationThreshold,
		inputPricePerM: row.inputPricePerM,
		outputPricePerM: row.outputPricePerM,
		hfRepo: row.hfRepo,
		hfRevision: row.hfRevision,
	};
	return db
		.insert(models)
		.values({ id: row.id, displayName: row.displayName, ...marketFields })
		.onConflictDoUpdate({ target: models.id, set: marketFields });
}

/** A rolled-back tokenization: the models row stays (it may have upstreams) without its market. */
export function clearModelMarket(db: Db, id: string): Statement {
	return db
		.update(models)
		.set({ tokenAddress: null, saleAddress: null, poolAddress: null, imoStatus: "none", imoRaised: null, imoThreshold: null })
		.where(eq(models.id, id));
}

// ── Settlement ──────────────────────────────────────────────────────────────

export type EpochRow = typeof settlerEpochs.$inferSelect;

/** True for a usage row (by its request id) that no epoch holds yet. */
function inNoEpoch(requestId: SQLWrapper): SQL {
	return sql`NOT EXISTS (SELECT 1 FROM ${usageEpochs} e WHERE e.request_id = ${requestId})`;
}

export function unfinishedEpoch(db: Db): Promise<EpochRow | undefined> {
	return db
		.select()
		.from(settlerEpochs)
		.where(inArray(settlerEpochs.state, ["prepared", "sent"]))
		.orderBy(asc(settlerEpochs.epoch))
		.get();
}

export function lastEpoch(db: Db): Promise<EpochRow | undefined> {
	return db.select().from(settlerEpochs).orderBy(desc(settlerEpochs.epoch)).get();
}

export function epochRow(db: Db, epoch: number): Promise<EpochRow | undefined> {
	return db.select().from(settlerEpochs).where(eq(settlerEpochs.epoch, epoch)).get();
}

export function updateEpoch(db: Db, epoch: number, set: Partial<EpochRow>) {
	return db
		.update(settlerEpochs)
		.set({ ...set, updatedAt: Date.now() })
		.where(eq(settlerEpochs.epoch, epoch));
}

/**
 * Models with a token and usage that no epoch holds yet (created before `endMs`, if given),
 * with the creation time of their oldest such row: oldest first (then by id), so a settle that
 * cannot take every model starves none. At most `limit` models, if given.
 */
export function modelsWithUnassignedUsage(db: Db, opts: { endMs?: number; limit?: number } = {}) {
	const query = db
		.select({ modelId: usage.modelId, token: models.tokenAddress, oldest: sql<number>`min(${usage.createdAt})` })
		.from(usage)
		.innerJoin(models, and(eq(models.id, usage.modelId), sql`${models.tokenAddress} IS NOT NULL`))
		.where(and(opts.endMs === undefined ? undefined : sql`${usage.createdAt} < ${opts.endMs}`, inNoEpoch(usage.requestId)))
		.groupBy(usage.modelId, models.tokenAddress)
		.orderBy(sql`min(${usage.createdAt})`, usage.modelId);
	return (opts.limit === undefined ? query : query.limit(opts.limit)).all();
}

/** Model ids bound in one statement, leaving room for the others (D1 caps bound parameters at 100). */
const MODEL_IDS_PER_STATEMENT = 90;

/**
 * Assigns to `epoch` every usage row of `modelIds` created before `endMs` that
 * no epoch holds yet (usage of other models waits for a later epoch).
 */
export async function assignUsage(db: Db, epoch: number, endMs: number, modelIds: string[]): Promise<void> {
	for (const ids of chunksOf(modelIds, MODEL_IDS_PER_STATEMENT)) {
		await db.run(sql`
			INSERT INTO ${usageEpochs} (request_id, epoch)
			SELECT u.request_id, ${epoch} FROM ${usage} u
			WHERE u.model_id IN (${sql.join(
				ids.map((id) => sql`${id}`),
				sql`, `,
			)})
			  AND u.created_at < ${endMs}
			  AND ${inNoEpoch(sql`u.request_id`)}
		`);
	}
}

/** Usage of `modelIds` created before `endMs` that no epoch holds. */
export async function unassignedUsageOf(db: Db, endMs: number, modelIds: string[]) {
	const rows: Array<{ modelId: string; fee: bigint }> = [];
	for (const ids of chunksOf(modelIds, MODEL_IDS_PER_STATEMENT)) {
		rows.push(
			...(await db
				.select({ modelId: usage.modelId, fee: usage.fee })
				.from(usage)
				.where(and(inArray(usage.modelId, ids), sql`${usage.createdAt} < ${endMs}`, inNoEpoch(usage.requestId)))
				.all()),
		);
	}
	return rows;
}

/**
 * The earliest epoch that holds usage but has no settler row: a run stopped between
 * assigning the epoch's usage and recording the epoch. It must be closed next, or
 * that usage (no longer unassigned) would never be settled.
 */
export async function epochAssignedButUnrecorded(db: Db, after: number | null): Promise<number | null> {
	// Only an epoch past the last recorded one can be: epochs are prepared in order. Bounding
	// the search keeps it to the newest usage_epochs rows (a row per request ever made).
	const row = await db
		.select({ epoch: sql<number | null>`min(${usageEpochs.epoch})` })
		.from(usageEpochs)
		.where(
			sql`${usageEpochs.epoch} > ${after ?? -1} AND NOT EXISTS (SELECT 1 FROM ${settlerEpochs} s WHERE s.epoch = ${usageEpochs.epoch})`,
		)
		.get();
	return row?.epoch ?? null;
}

/**
 * Undoes the assignment of an epoch D1 has no row for (usage back to no epoch, its leaves
 * gone), so the usage goes into the next epoch closed. Not for an epoch with a row.
 */
export function releaseUnrecordedEpoch(db: Db, epoch: number): Statement[] {
	return [
		db
			.delete(usageEpochs)
			.where(and(eq(usageEpochs.epoch, epoch), sql`NOT EXISTS (SELECT 1 FROM ${settlerEpochs} s WHERE s.epoch = ${epoch})`)),
		deleteLeavesOfEpoch(db, epoch),
	];
}

/** The models with usage assigned to `epoch`. */
export async function modelsOfEpoch(db: Db, epoch: number): Promise<string[]> {
	const rows = await db
		.selectDistinct({ modelId: usage.modelId })
		.from(usageEpochs)
		.innerJoin(usage, eq(usage.requestId, usageEpochs.requestId))
		.where(eq(usageEpochs.epoch, epoch))
		.all();
	return rows.map((r) => r.modelId);
}

/** The usage rows of an epoch with each model's token address. */
export function usageOfEpoch(db: Db, epoch: number) {
	return db
		.select({
			payer: usage.payer,
			modelId: usage.modelId,
			token: models.tokenAddress,
			promptTokens: usage.promptTokens,
			completionTokens: usage.completionTokens,
			fee: usage.fee,
		})
		.from(usageEpochs)
		.innerJoin(usage, eq(usage.requestId, usageEpochs.requestId))
		.innerJoin(models, eq(models.id, usage.modelId))
		.where(eq(usageEpochs.epoch, epoch))
		.all();
}

/** Usage created before `endMs` that no epoch can take, because its model has no token. */
export function unsettleableUsage(db: Db, endMs: number) {
	return db
		.select({ modelId: usage.modelId, fee: usage.fee })
		.from(usage)
		.leftJoin(models, eq(models.id, usage.modelId))
		.where(and(sql`${usage.createdAt} < ${endMs}`, isNull(models.tokenAddress)))
		.all();
}

export function feeTotals(db: Db) {
	return db.select().from(modelFeeTotals).all();
}

/** Upserts models' cumulative fees, 25 rows a statement (4 columns, D1's 100 bound parameters). */
export function setFeeTotals(db: Db, rows: Array<typeof modelFeeTotals.$inferInsert>): Statement[] {
	return chunksOf(rows, 25).map((part) =>
		db
			.insert(modelFeeTotals)
			.values(part)
			.onConflictDoUpdate({
				target: modelFeeTotals.modelId,
				set: {
					token: sql`excluded.token`,
					cumulativeFees: sql`excluded.cumulative_fees`,
					throughEpoch: sql`excluded.through_epoch`,
				},
			}),
	);
}

/** Leaves a stopped run wrote for an epoch it never recorded (nothing reads an epoch's leaves before its row exists). */
export function deleteLeavesOfEpoch(db: Db, epoch: number): Statement {
	return db.delete(usageLeaves).where(eq(usageLeaves.epoch, epoch));
}

export function insertLeaves(db: Db, rows: Array<typeof usageLeaves.$inferInsert>): Statement[] {
	// 7 columns a row, D1's 100 bound parameters per statement.
	return chunksOf(rows, 14).map((part) => db.insert(usageLeaves).values(part).onConflictDoNothing());
}

export function leavesOfEpoch(db: Db, epoch: number) {
	return db.select().from(usageLeaves).where(eq(usageLeaves.epoch, epoch)).all();
}

export function insertEpoch(db: Db, row: typeof settlerEpochs.$inferInsert): Statement {
	return db.insert(settlerEpochs).values(row);
}

/**
 * The settler's signed transactions out, by nonce from `from` up to (not including) `below`: the latest of
 * each epoch and withdrawal recorded "sent", as it was signed (`what` names it for the logs).
 */
export async function signedTransactionsOut(
	db: Db,
	nonces: { from: number; below: number },
): Promise<{ nonce: number; rawTx: string; what: string }[]> {
	/** A row of `t` recorded "sent", with its signed bytes, at a nonce in the range. */
	const outIn = (t: typeof settlerEpochs | typeof withdrawals) =>
		and(eq(t.state, "sent"), isNotNull(t.rawTx), gte(t.nonce, nonces.from), lt(t.nonce, nonces.below));
	const [epochs, payments] = await Promise.all([
		db
			.select({ epoch: settlerEpochs.epoch, nonce: settlerEpochs.nonce, rawTx: settlerEpochs.rawTx })
			.from(settlerEpochs)
			.where(outIn(settlerEpochs))
			.all(),
		db
			.select({ id: withdrawals.id, nonce: withdrawals.nonce, rawTx: withdrawals.rawTx })
			.from(withdrawals)
			.where(outIn(withdrawals))
			.all(),
	]);
	const out: { nonce: number; rawTx: string; what: string }[] = [];
	// (The filters above leave no null nonce or bytes: the checks only narrow the types.)
	for (const e of epochs) {
		if (e.nonce !== null && e.rawTx !== null) out.push({ nonce: e.nonce, rawTx: e.rawTx, what: `epoch ${e.epoch}` });
	}
	for (const w of payments) {
		if (w.nonce !== null && w.rawTx !== null) out.push({ nonce: w.nonce, rawTx: w.rawTx, what: `withdrawal ${w.id}` });
	}
	return out.sort((a, b) => a.nonce - b.nonce);
}

// ── Withdrawals ─────────────────────────────────────────────────────────────

export type WithdrawalRow = typeof withdrawals.$inferSelect;

/** Inserts the row unless its id is taken; true when this call inserted it. */
export async function insertWithdrawal(db: Db, row: typeof withdrawals.$inferInsert): Promise<boolean> {
	const inserted = await db.insert(withdrawals).values(row).onConflictDoNothing().returning({ id: withdrawals.id });
	return inserted.length > 0;
}

export function pendingWithdrawals(db: Db, limit = 20) {
	return db
		.select()
		.from(withdrawals)
		.where(inArray(withdrawals.state, ["requested", "sent"]))
		.orderBy(asc(withdrawals.requestedAt))
		.limit(limit)
		.all();
}

/**
 * Withdrawals whose transaction the settler has sent and not yet seen paid, by nonce: a transaction is mined
 * only after every lower nonce of its account, so the lowest is the one to look at (and replace) first.
 */
export function sentWithdrawals(db: Db) {
	return db
		.select()
		.from(withdrawals)
		.where(eq(withdrawals.state, "sent"))
		.orderBy(asc(withdrawals.nonce), asc(withdrawals.requestedAt))
		.all();
}

export function updateWithdrawal(db: Db, id: string, set: Partial<WithdrawalRow>) {
	return db.update(withdrawals).set(set).where(eq(withdrawals.id, id));
}

export function withdrawalById(db: Db, id: string) {
	return db.select().from(withdrawals).where(eq(withdrawals.id, id)).get();
}

export function withdrawalsOf(db: Db, payer: string) {
	return db
		.select()
		.from(withdrawals)
		.where(eq(withdrawals.payer, payer.toLowerCase()))
		.orderBy(desc(withdrawals.requestedAt))
		.all();
}
