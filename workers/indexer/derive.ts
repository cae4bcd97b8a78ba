import { type Address, getAddress, type PublicClient } from "viem";
import { modelSaleAbi } from "../../lib/chain/abis.ts";
import type { ChainConfig } from "../../lib/chain/config.ts";
import {
	clearModelMarket,
	DEAD_ADDRESS,
	deleteMarket,
	graduatedEvent,
	holderBalances,
	holderCount,
	latestModelSettlement,
	latestPricing,
	latestSync,
	latestTrade,
	type MarketRow,
	marketByToken,
	marketsWithoutShareSupply,
	modelById,
	runBatch,
	type Statement,
	setHolder,
	tokenizedEvent,
	transfersOf,
	upsertMarket,
	upsertModelFromMarket,
} from "../../lib/db/chain.ts";
import type { Db } from "../../lib/db/client.ts";
import type { Touched } from "./events/types.ts";

// Derived state, recomputed from the indexed rows for what a run (or a rollback)
// touched. Applying and undoing logs share this code: the derived rows are a
// function of the rows still indexed, so a rollback is "delete, then recompute".

const E18 = 10n ** 18n;

interface TokenizedArgs {
	token: string;
	sale: string;
	creator: string;
	pair: string;
	params: {
		repoId: string;
		revision: string;
		name: string;
		symbol: string;
		metadataURI: string;
		inputPricePer1M: string;
		outputPricePer1M: string;
	};
	config: { totalSupply: string; graduationThreshold: string };
}

/**
 * Each touched (token, account)'s balance from its transfers. The token contract itself and the
 * RevenueVault are kept out (no row): the token excludes both from its share supply (they cannot
 * claim), so neither is a holder, in the count or the top-holders list.
 */
export async function recomputeHolders(db: Db, config: ChainConfig, touched: Touched): Promise<void> {
	const statements: Statement[] = [];
	const vault = config.addresses.revenueVault.toLowerCase();
	for (const pair of touched.holders) {
		const [token = "", account = ""] = pair.split("|");
		if (account === token || account === vault) {
			statements.push(setHolder(db, token, account, 0n));
			continue;
		}
		statements.push(setHolder(db, token, account, await balanceFromTransfers(db, token, account)));
	}
	await runBatch(db, statements);
}

async function balanceFromTransfers(db: Db, token: string, account: string): Promise<bigint> {
	let balance = 0n;
	for (const t of await transfersOf(db, token, account)) {
		if (t.to === account) balance += t.value;
		if (t.from === account) balance -= t.value;
	}
	return balance;
}

/**
 * ModelToken.shareSupply(), from the indexed transfers: the sum of the balances of every account
 * the token does not exclude, that is the total supply less what the excluded accounts hold. The
 * token excludes its sale, its pair (fixed at initialize: the CREATE2 address the graduation must
 * use), the dead address, the zero address, itself and the RevenueVault. The sale's, the pair's and
 * the dead address's balances are their holders rows (recomputed before the markets); the token and
 * the vault have no rows, so theirs come from their transfers (rare: tokens sent there by mistake).
 * The zero address holds nothing: ModelToken mints its whole supply at initialize and never burns.
 */
async function shareSupplyOf(
	db: Db,
	token: string,
	totalSupply: bigint,
	excluded: { sale: string; pair: string; vault: string },
): Promise<bigint> {
	const [rows, own, vault] = await Promise.all([
		holderBalances(db, token, [excluded.sale, excluded.pair, DEAD_ADDRESS]),
		balanceFromTransfers(db, token, token),
		balanceFromTransfers(db, token, excluded.vault),
	]);
	return rows.reduce((supply, balance) => supply - balance, totalSupply) - own - vault;
}

export async function recomputeMarkets(db: Db, client: PublicClient, config: ChainConfig, touched: Touched): Promise<void> {
	for (const token of touched.tokens) await recomputeMarket(db, client, config, token);
}

/**
 * Derives share_supply for the markets indexed before model_markets had it (migration 0001), once.
 * On the way it drops their holder rows of the token itself and of the RevenueVault, which
 * indexers before 4d6e91c wrote: the gateway's holders list leaves the token out but cannot tell
 * the vault from a holder (it has no chain configuration), and would list it with a share.
 */
export async function deriveMissingShareSupply(db: Db, client: PublicClient, config: ChainConfig): Promise<void> {
	const tokens = await marketsWithoutShareSupply(db, config.chainId);
	if (tokens.length === 0) return;
	const vault = config.addresses.revenueVault.toLowerCase();
	const touched: Touched = { tokens: new Set(tokens), holders: new Set(tokens.flatMap((t) => [`${t}|${t}`, `${t}|${vault}`])) };
	await recomputeHolders(db, config, touched);
	await recomputeMarkets(db, client, config, touched);
}

async function recomputeMarket(db: Db, client: PublicClient, config: ChainConfig, token: string): Promise<void> {
	const chainId = config.chainId;
	const existing = await marketByToken(db, token);
	const event = await tokenizedEvent(db, chainId, token);
	if (!event) {
		// Tokenization rolled back (or a token we never saw created): no market.
		if (existing) await runBatch(db, [deleteMarket(db, token), clearModelMarket(db, existing.modelId)]);
		return;
	}
	const args = JSON.parse(event.args) as TokenizedArgs;
	const sale = args.sale.toLowerCase();
	const [initialVirtualPaca, initialVirtualToken] = existing
		? [existing.initialVirtualPaca, existing.initialVirtualToken]
		: await client.readContract({
				address: getAddress(sale) as Address,
				abi: modelSaleAbi,
				// Fixed at initialize: read at the head, so no archive node is needed for old blocks.
				functionName: "initialVirtualReserves",
			});
	const pair = args.pair.toLowerCase();
	const vault = config.addresses.revenueVault.toLowerCase();
	const totalSupply = BigInt(args.config.totalSupply);
	const [trade, graduated, pricing, settled, holders, sync, shareSupply] = await Promise.all([
		latestTrade(db, token),
		graduatedEvent(db, chainId, sale),
		latestPricing(db, chainId, token),
		latestModelSettlement(db, token),
		holderCount(db, token, [sale, pair, vault]),
		latestSync(db, chainId, pair),
		shareSupplyOf(db, token, totalSupply, { sale, pair, vault }),
	]);
	const prices = pricing ? (JSON.parse(pricing.args) as { inputPricePer1M: string; outputPricePer1M: string }) : args.params;
	const virtualPaca = trade?.virtualPaca ?? initialVirtualPaca;
	const virtualToken = trade?.virtualToken ?? initialVirtualToken;
	const market: MarketRow = {
		token,
		chainId,
		modelId: existing?.modelId ?? (await chooseModelId(db, args.params.repoId, args.params.revision, token)),
		sale,
		creator: args.creator.toLowerCase(),
		pair: (graduated ? (JSON.parse(graduated.args) as { pair: string }).pair : args.pair).toLowerCase(),
		symbol: args.params.symbol,
		name: args.params.name,
		metadataUri: args.params.metadataURI,
		status: graduated ? "graduated" : "funding",
		totalSupply,
		graduationThreshold: BigInt(args.config.graduationThreshold),
		initialVirtualPaca,
		initialVirtualToken,
		virtualPaca,
		virtualToken,
		raised: virtualPaca - initialVirtualPaca,
		price:
			(graduated && sync ? poolPrice(sync.args, token, config.addresses.paca) : null) ?? curvePrice(virtualPaca, virtualToken),
		inputPricePerM: BigInt(prices.inputPricePer1M),
		outputPricePerM: BigInt(prices.outputPricePer1M),
		revenueSettled: settled?.cumulativeFees ?? 0n,
		holders,
		shareSupply,
		tokenizedBlock: event.blockNumber,
	};
	await runBatch(db, [
		upsertMarket(db, market),
		upsertModelFromMarket(db, {
			id: market.modelId,
			displayName: args.params.name,
			hfRepo: args.params.repoId,
			hfRevision: args.params.revision,
			inputPricePerM: market.inputPricePerM,
			outputPricePerM: market.outputPricePerM,
			market,
		}),
	]);
}

function curvePrice(virtualPaca: bigint, virtualToken: bigint): bigint {
	return virtualToken === 0n ? 0n : (virtualPaca * E18) / virtualToken;
}

/** After graduation the market price is the pool's: PACA per 1e18 token units from the pair's reserves. */
function poolPrice(syncArgs: string, token: string, paca: string): bigint | null {
	const { reserve0, reserve1 } = JSON.parse(syncArgs) as { reserve0: string; reserve1: string };
	// Uniswap V2 orders a pair's tokens by address.
	const tokenIsToken0 = token.toLowerCase() < paca.toLowerCase();
	const tokenReserve = BigInt(tokenIsToken0 ? reserve0 : reserve1);
	const pacaReserve = BigInt(tokenIsToken0 ? reserve1 : reserve0);
	return tokenReserve === 0n ? null : (pacaReserve * E18) / tokenReserve;
}

/**
 * The catalogue id of a newly tokenized model: its Hugging Face repo ("org/name"),
 * unless that id already belongs to another token (another revision), then "org/name@revision".
 */
async function chooseModelId(db: Db, repoId: string, revision: string, token: string): Promise<string> {
	const existing = await modelById(db, repoId);
	if (!existing?.tokenAddress || existing.tokenAddress.toLowerCase() === token) return repoId;
	return `${repoId}@${revision}`;
}
