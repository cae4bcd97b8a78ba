import { type Address, BlockNotFoundError, type PublicClient } from "viem";
import type { ChainConfig } from "../../lib/chain/config.ts";
import {
	anythingAfter,
	type Cursor,
	deleteCursor,
	deleteLogsAfter,
	marketsOfChain,
	runBatch,
	setCursor,
	storedBlocks,
	touchedAfter,
} from "../../lib/db/chain.ts";
import type { Db } from "../../lib/db/client.ts";
import { reverseDeposits } from "./credits.ts";
import { recomputeHolders, recomputeMarkets } from "./derive.ts";
import type { Env } from "./env.ts";
import { HANDLERS } from "./events/index.ts";
import type { ApplyContext, Touched } from "./events/types.ts";

// Reorg handling. The cursor stores the hash of the last applied block; when the
// chain's block at that height has another hash, the indexer walks back through
// the stored hashes to the newest block both chains share, undoes everything
// written above it (credits reversed first, then rows deleted, then derived state
// recomputed) and moves the cursor there. Each step is idempotent, so a crash
// during a rollback is finished by the next run. An RPC error is never taken for
// a reorg (the run fails and the next one retries); a node without the cursor's
// block is waited for; and when no stored hash matches, the run stops with an
// error instead of rolling back everything.

/** Where the indexer stands: its D1 cursor's block and hash, undefined before its first range. */
export type CursorAt = Pick<Cursor, "lastBlock" | "lastHash"> | undefined;

export interface ReorgResult {
	/** The last block both chains share; null when there was no reorg. */
	forkBlock: number | null;
	reversedDeposits: number;
	shortfall: bigint;
	/** The cursor after the check: moved back to the fork after a reorg, else the one checked. */
	cursor: CursorAt;
}

/** The node's hash of block `number`; null when the node has no such block. Any other RPC error is thrown. */
async function hashAt(client: PublicClient, number: number): Promise<string | null> {
	try {
		const block = await client.getBlock({ blockNumber: BigInt(number) });
		return block.hash?.toLowerCase() ?? null;
	} catch (error) {
		// Only "no such block" is an answer; a 429, a timeout or a node error says nothing about a reorg.
		if (error instanceof BlockNotFoundError) return null;
		throw error;
	}
}

/** Checks the chain at `cursor`, the indexer's D1 cursor. */
export async function checkReorg(
	env: Env,
	db: Db,
	client: PublicClient,
	config: ChainConfig,
	cursor: CursorAt,
): Promise<ReorgResult> {
	const chainId = config.chainId;
	const none: ReorgResult = { forkBlock: null, reversedDeposits: 0, shortfall: 0n, cursor };
	if (!cursor) return none;
	const current = await hashAt(client, cursor.lastBlock);
	if (current === cursor.lastHash) return none;
	if (current === null) {
		// A node behind the cursor (a lagging provider), or a shorter chain: nothing to apply until the
		// chain passes the cursor again, and then its hash tells whether there was a reorg.
		console.warn(`chain ${chainId}: the node has no block ${cursor.lastBlock} (the cursor); waiting`);
		return none;
	}

	let fork: { number: number; hash: string } | null = null;
	for (const stored of await storedBlocks(db, chainId, cursor.lastBlock)) {
		const hash = await hashAt(client, stored.number);
		if (hash === null) throw new Error(`chain ${chainId}: the node has block ${cursor.lastBlock} but not ${stored.number}`);
		if (hash === stored.hash) {
			fork = stored;
			break;
		}
	}
	if (!fork) {
		// A reorg deeper than the stored hashes, or another chain behind the RPC URL: rolling back to
		// the start would reverse every deposit credit ever made. An operator decides.
		throw new Error(
			`chain ${chainId}: block ${cursor.lastBlock} changed and no stored block hash at or below it matches the node's chain; ` +
				"not rolling back (a reorg deeper than the stored hashes, or the wrong chain): an operator must decide",
		);
	}
	console.warn(`chain ${chainId}: reorg below block ${cursor.lastBlock}; rolling back to ${fork.number}`);
	return {
		...(await rollBackTo(env, db, client, config, fork.number, fork.hash)),
		forkBlock: fork.number,
		cursor: { lastBlock: fork.number, lastHash: fork.hash },
	};
}

/**
 * Undoes the rows above `cursor`, the indexer's D1 cursor (or all rows, without one), that a run
 * wrote and stopped before moving the cursor: a reorg check never looks above the cursor, so such
 * rows would stay, and a deposit among them be credited, even after a reorg removed their blocks.
 * The cursor itself is left where it is.
 */
export async function dropAboveCursor(
	env: Env,
	db: Db,
	client: PublicClient,
	config: ChainConfig,
	cursor: CursorAt,
): Promise<void> {
	const last = cursor?.lastBlock ?? Number(config.startBlock) - 1;
	if (!(await anythingAfter(db, config.chainId, last))) return;
	console.warn(`chain ${config.chainId}: rows above the cursor (block ${last}) from a run that stopped; undoing them`);
	await rollBackTo(env, db, client, config, last, cursor?.lastHash ?? null);
}

async function rollBackTo(
	env: Env,
	db: Db,
	client: PublicClient,
	config: ChainConfig,
	forkBlock: number,
	forkHash: string | null,
): Promise<{ reversedDeposits: number; shortfall: bigint }> {
	const chainId = config.chainId;
	const doomed = await touchedAfter(db, chainId, forkBlock);
	const shortfall = await reverseDeposits(env, db, doomed.deposits);

	// What the doomed logs touched, found by running their handlers again (their writes are
	// dropped): the rows are deleted below, and derived state recomputed from what is left.
	const touched: Touched = { tokens: new Set(), holders: new Set() };
	const markets = await marketsOfChain(db, chainId);
	const tokenOfSale = new Map(markets.map((m) => [m.sale, m.token]));
	const tokenOfPair = new Map(markets.map((m) => [m.pair, m.token]));
	const ctx: ApplyContext = {
		db,
		touched,
		tokenOfSale: (sale) => tokenOfSale.get(sale.toLowerCase()),
		tokenOfPair: (pair) => tokenOfPair.get(pair.toLowerCase()),
	};
	for (const { address, name, args, ...key } of doomed.events) {
		HANDLERS[name]?.(ctx, { key, address: address as Address, name, args: JSON.parse(args) as Record<string, unknown> });
	}

	await runBatch(db, [
		...deleteLogsAfter(db, chainId, forkBlock),
		forkHash ? setCursor(db, chainId, forkBlock, forkHash) : deleteCursor(db, chainId),
	]);
	await recomputeHolders(db, config, touched);
	await recomputeMarkets(db, client, config, touched);
	return { reversedDeposits: doomed.deposits.length, shortfall };
}
