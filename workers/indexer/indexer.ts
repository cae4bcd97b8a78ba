import { type Address, decodeEventLog, getAddress, type Log, type PublicClient } from "viem";
import { publicClientFor } from "../../lib/chain/client.ts";
import { type ChainConfig, readChainConfig } from "../../lib/chain/config.ts";
import { inAcceptedRanges } from "../../lib/chain/logs.ts";
import {
	insertEvent,
	type JobLease,
	marketsOfChain,
	pruneBlocks,
	readCursor,
	recordBlock,
	runBatch,
	type Statement,
	setCursor,
	withLease,
} from "../../lib/db/chain.ts";
import { type Db, openDb } from "../../lib/db/client.ts";
import { creditDeposits } from "./credits.ts";
import { deriveMissingShareSupply, recomputeHolders, recomputeMarkets } from "./derive.ts";
import type { Env } from "./env.ts";
import { CONTRACTS, type ContractKind } from "./events/index.ts";
import type { ApplyContext, ChainLog, EventHandler, Touched } from "./events/types.ts";
import { type CursorAt, checkReorg, dropAboveCursor, type ReorgResult } from "./reorg.ts";

// One indexer run: check for a reorg at the cursor, then apply confirmed blocks
// in bounded ranges. Per range: the factory's logs first (they reveal new
// tokens, sales and pairs), then the vault's, tokens', sales' and pairs' logs;
// all applied in chain order with the blocks' hashes, in D1 batches of at most
// 50 statements (runBatch); derived state recomputed; the cursor moved; and only
// then the range's deposits credited (never a deposit above the cursor). A crash
// before the cursor moved leaves rows above it, which the next run undoes first
// (as a rollback to the cursor) and reads again; every write is idempotent.

/**
 * Block hashes kept behind the cursor. A reorg check walks back through at most
 * the newest 256 of them (storedBlocks' default limit); a deeper reorg stops the
 * indexer with an error for an operator.
 */
const KEPT_BLOCKS = 512;

export interface IndexerRunOptions {
	/** Most ranges one run applies (the cron runs again a minute later). */
	maxRanges?: number;
	/** Test hook: called after a range's logs were read, before its rows are written. */
	beforeWrite?(): Promise<void> | void;
}

export interface IndexerRunResult {
	/** Another run held the lease: this one did nothing. */
	busy: boolean;
	fromBlock: number | null;
	toBlock: number | null;
	logs: number;
	credited: number;
	reorg: { forkBlock: number; reversedDeposits: number; shortfall: bigint } | null;
}

/** A run longer than this is presumed dead and its lease taken over. */
const LEASE_MS = 5 * 60_000;

export async function runIndexer(env: Env, opts: IndexerRunOptions = {}): Promise<IndexerRunResult> {
	const config = readChainConfig(env);
	const db = openDb(env.DB);
	// One run at a time per chain: a rollback interleaved with another run's writes could undo half of either.
	const result = await withLease(db, `indexer:${config.chainId}`, LEASE_MS, (lease) => indexOnce(env, db, config, opts, lease));
	return result ?? { busy: true, fromBlock: null, toBlock: null, logs: 0, credited: 0, reorg: null };
}

async function indexOnce(
	env: Env,
	db: Db,
	config: ChainConfig,
	opts: IndexerRunOptions,
	lease: JobLease,
): Promise<IndexerRunResult> {
	const client = publicClientFor(config);
	const chainId = config.chainId;
	const result: IndexerRunResult = { busy: false, fromBlock: null, toBlock: null, logs: 0, credited: 0, reorg: null };

	// The cursor is read once; from then on this run moves it itself (it holds the lease), and
	// carries along where it put it.
	let cursor: CursorAt = await readCursor(db, chainId);
	const reorg = await checkReorg(env, db, client, config, cursor);
	if (reorg.forkBlock !== null) result.reorg = reported(reorg, reorg.forkBlock);
	cursor = reorg.cursor;
	// Rows above the cursor, from a run that stopped before moving it: undone before anything else.
	await dropAboveCursor(env, db, client, config, cursor);
	await deriveMissingShareSupply(db, client, config);

	// Deposits indexed by a run that stopped after moving the cursor and before crediting them.
	if (cursor) result.credited += await creditDeposits(env, db, chainId, cursor.lastBlock);

	const head = await client.getBlockNumber();
	const safe = head - config.confirmations;
	for (let i = 0; i < (opts.maxRanges ?? 20); i++) {
		const from = cursor ? BigInt(cursor.lastBlock) + 1n : config.startBlock;
		if (from > safe) break;
		const to = from + config.maxBlockRange - 1n < safe ? from + config.maxBlockRange - 1n : safe;
		const applied = await applyRange(env, db, client, config, from, to, cursor?.lastHash ?? null, async () => {
			await opts.beforeWrite?.();
			await lease.renew();
		});
		if (!applied) {
			// The chain moved under us: undo what the new chain dropped, then carry on from there.
			const again = await checkReorg(env, db, client, config, cursor);
			if (again.forkBlock === null) break;
			result.reorg = reported(again, again.forkBlock);
			cursor = again.cursor;
			continue;
		}
		cursor = applied.cursor;
		result.fromBlock ??= Number(from);
		result.toBlock = Number(to);
		result.logs += applied.logs;
		result.credited += applied.credited;
	}
	return result;
}

function reported({ reversedDeposits, shortfall }: ReorgResult, forkBlock: number): IndexerRunResult["reorg"] {
	return { forkBlock, reversedDeposits, shortfall };
}

async function applyRange(
	env: Env,
	db: Db,
	client: PublicClient,
	config: ChainConfig,
	from: bigint,
	to: bigint,
	parentHash: string | null,
	beforeWrite: () => Promise<void>,
): Promise<{ logs: number; credited: number; cursor: CursorAt } | null> {
	const chainId = config.chainId;
	const end = await client.getBlock({ blockNumber: to });
	if (parentHash !== null) {
		const first = from === to ? end : await client.getBlock({ blockNumber: from });
		if (first.parentHash.toLowerCase() !== parentHash) return null;
	}

	const known = await marketsOfChain(db, chainId);
	const kindOf = new Map<string, ContractKind>([
		[config.addresses.modelFactory.toLowerCase(), "factory"],
		[config.addresses.revenueVault.toLowerCase(), "vault"],
	]);
	const tokenOfSale = new Map<string, string>();
	const tokenOfPair = new Map<string, string>();
	const track = (token: string, sale: string, pair: string) => {
		kindOf.set(token, "token");
		kindOf.set(sale, "sale");
		kindOf.set(pair, "pair");
		tokenOfSale.set(sale, token);
		tokenOfPair.set(pair, token);
	};
	for (const m of known) track(m.token, m.sale, m.pair);

	const factoryLogs = await logsOf(client, config.addresses.modelFactory, from, to);
	const decodedFactory = factoryLogs.flatMap((log) => decode(chainId, "factory", log));
	for (const log of decodedFactory) {
		if (log.name !== "ModelTokenized") continue;
		track(String(log.args.token).toLowerCase(), String(log.args.sale).toLowerCase(), String(log.args.pair).toLowerCase());
	}
	const others = [...kindOf.entries()]
		.filter(([, kind]) => kind !== "factory")
		.map(([address]) => getAddress(address) as Address);
	const otherLogs = await logsOf(client, others, from, to);
	const decoded = [
		...decodedFactory,
		...otherLogs.flatMap((log) => {
			const kind = kindOf.get(log.address.toLowerCase());
			return kind ? decode(chainId, kind, log) : [];
		}),
	].sort((a, b) => a.key.blockNumber - b.key.blockNumber || a.key.logIndex - b.key.logIndex);

	// The range must still end in the block we started from: otherwise a reorg
	// happened while we read, and the logs may mix two chains.
	const endAgain = await client.getBlock({ blockNumber: to });
	if (endAgain.hash !== end.hash) return null;

	const touched: Touched = { tokens: new Set(), holders: new Set() };
	const ctx: ApplyContext = {
		db,
		touched,
		tokenOfSale: (sale) => tokenOfSale.get(sale.toLowerCase()),
		tokenOfPair: (pair) => tokenOfPair.get(pair.toLowerCase()),
	};
	const statements: Statement[] = [];
	const blocks = new Map<number, string>([[Number(to), end.hash.toLowerCase()]]);
	for (const log of decoded) {
		statements.push(insertEvent(db, log.key, log.address, log.name, log.args), ...log.handler(ctx, log));
		blocks.set(log.key.blockNumber, log.key.blockHash);
	}
	for (const [number, hash] of blocks) statements.push(recordBlock(db, chainId, number, hash));
	// Reading a range can be slow: the lease is renewed (or the run stops) before any write.
	await beforeWrite();
	await runBatch(db, statements);

	await recomputeHolders(db, config, touched);
	await recomputeMarkets(db, client, config, touched);
	const cursor = { lastBlock: Number(to), lastHash: end.hash.toLowerCase() };
	await runBatch(db, [
		setCursor(db, chainId, cursor.lastBlock, cursor.lastHash),
		pruneBlocks(db, chainId, Number(to) - KEPT_BLOCKS),
	]);
	// Only deposits at or below the cursor: a reorg check can find and reverse those.
	const credited = await creditDeposits(env, db, chainId, cursor.lastBlock);
	return { logs: decoded.length, credited, cursor };
}

/** The logs of `address` in [from, to]; a range the provider refuses as too large is halved, down to one block. */
function logsOf(client: PublicClient, address: Address | Address[], from: bigint, to: bigint): Promise<Log[]> {
	return inAcceptedRanges(from, to, (fromBlock, toBlock) => client.getLogs({ address, fromBlock, toBlock }));
}

/** A decoded log with the handler its contract kind has for it. */
type DecodedLog = ChainLog & { handler: EventHandler };

function decode(chainId: number, kind: ContractKind, log: Log): DecodedLog[] {
	if (log.blockNumber === null || log.blockHash === null || log.transactionHash === null || log.logIndex === null) return [];
	try {
		const event = decodeEventLog({ abi: CONTRACTS[kind].abi as never, data: log.data, topics: log.topics }) as unknown as {
			eventName: string;
			args: Record<string, unknown>;
		};
		const handler = (CONTRACTS[kind].handlers as Record<string, EventHandler>)[event.eventName];
		if (!handler) return [];
		return [
			{
				key: {
					chainId,
					txHash: log.transactionHash.toLowerCase(),
					logIndex: log.logIndex,
					blockNumber: Number(log.blockNumber),
					blockHash: log.blockHash.toLowerCase(),
				},
				address: log.address.toLowerCase() as Address,
				name: event.eventName,
				args: event.args,
				handler,
			},
		];
	} catch {
		return []; // an event of that contract the indexer does not use
	}
}
