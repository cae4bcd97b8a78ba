import type { Address, PublicClient } from "viem";
import type { ChainConfig } from "../../lib/chain/config.ts";
import {
	deleteCursor,
	deleteLogsAfter,
	marketsOfChain,
	readCursor,
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
// chain's block at that height has another hash (or is gone), the indexer walks
// back through the stored hashes to the newest block both chains share, undoes
// everything written above it (credits reversed first, then rows deleted, then
// derived state recomputed) and moves the cursor there. Each step is idempotent,
// so a crash during a rollback is finished by the next run.

export interface ReorgResult {
	/** The last block both chains share; null when there was no reorg. */
	forkBlock: number | null;
	reversedDeposits: number;
	shortfall: bigint;
}

async function hashAt(client: PublicClient, number: number): Promise<string | null> {
	try {
		const block = await client.getBlock({ blockNumber: BigInt(number) });
		return block.hash?.toLowerCase() ?? null;
	} catch {
		return null; // above the head after a rollback to a shorter chain
	}
}

export async function checkReorg(env: Env, db: Db, client: PublicClient, config: ChainConfig): Promise<ReorgResult> {
	const chainId = config.chainId;
	const startBlock = Number(config.startBlock);
	const cursor = await readCursor(db, chainId);
	if (!cursor) return { forkBlock: null, reversedDeposits: 0, shortfall: 0n };
	if ((await hashAt(client, cursor.lastBlock)) === cursor.lastHash)
		return { forkBlock: null, reversedDeposits: 0, shortfall: 0n };

	let fork: { number: number; hash: string } | null = null;
	for (const stored of await storedBlocks(db, chainId, cursor.lastBlock)) {
		if ((await hashAt(client, stored.number)) === stored.hash) {
			fork = stored;
			break;
		}
	}
	const forkBlock = fork?.number ?? startBlock - 1;
	console.warn(`chain ${chainId}: reorg below block ${cursor.lastBlock}; rolling back to ${forkBlock}`);
	return { ...(await rollBackTo(env, db, client, config, forkBlock, fork?.hash ?? null)), forkBlock };
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
	await recomputeHolders(db, touched);
	await recomputeMarkets(db, client, config, touched);
	return { reversedDeposits: doomed.deposits.length, shortfall };
}
