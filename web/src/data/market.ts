import { request } from "./api.ts";

// A model's market from the chain index (workers/gateway/routes/chain.ts, fed by the
// indexer): GET /v1/markets/{id}, …/trades, …/holders. Any failed request (a model
// without an indexed token, a gateway without those routes, a network or server
// error) gives nulls: the page shows what it has and says the rest is not available
// yet, instead of failing.

export interface Trade {
	tx: string | null;
	block: number | null;
	side: "buy" | "sell";
	trader: string;
	paca: string;
	tokens: string;
}

export interface Holder {
	address: string;
	balance: string;
	/**
	 * Share of the holders' revenue in basis points, when the API gives it: the balance over the
	 * token's share supply (what the sale, the pool and the other excluded accounts hold earns nothing).
	 */
	shareBps: number | null;
}

export interface Market {
	token: `0x${string}` | null;
	sale: `0x${string}` | null;
	/** PACA base units per whole token (spot), or null when unknown. */
	price: string | null;
	marketCap: string | null;
	holders: number | null;
	status: "funding" | "graduated" | null;
	pool: `0x${string}` | null;
	imo: { raised: string; threshold: string } | null;
	revenueSettled: string | null;
	trades: Trade[] | null;
	topHolders: Holder[] | null;
}

export const emptyMarket: Market = {
	token: null,
	sale: null,
	price: null,
	marketCap: null,
	holders: null,
	status: null,
	pool: null,
	imo: null,
	revenueSettled: null,
	trades: null,
	topHolders: null,
};

type Loose = Record<string, unknown>;
const digits = (v: unknown) => (typeof v === "string" && /^\d+$/.test(v) ? v : null);
const text = (v: unknown) => (typeof v === "string" ? v : null);
const address = (v: unknown) => (typeof v === "string" && /^0x[0-9a-fA-F]{40}$/.test(v) ? (v as `0x${string}`) : null);
const int = (v: unknown) => (typeof v === "number" && Number.isInteger(v) ? v : null);
const rows = (v: unknown): Loose[] | null => {
	const data = (v as Loose | null)?.data;
	return Array.isArray(data) ? data.filter((i): i is Loose => typeof i === "object" && i !== null) : null;
};

function toTrade(t: Loose): Trade | null {
	const side = t.side === "buy" || t.side === "sell" ? t.side : null;
	const paca = digits(t.paca_amount);
	const tokens = digits(t.token_amount);
	const trader = text(t.trader);
	if (!side || !paca || !tokens || !trader) return null;
	return { tx: text(t.tx_hash), block: int(t.block_number), side, trader, paca, tokens };
}

function toHolder(h: Loose): Holder | null {
	const address = text(h.account);
	const balance = digits(h.balance);
	return address && balance ? { address, balance, shareBps: int(h.share_bps) } : null;
}

/** The body of a market request, or null when it failed for any reason. */
const fetchOrNull = <T>(path: string): Promise<T | null> => request<T>(path).catch(() => null);

export const marketPath = (id: string) => `/v1/markets/${id.split("/").map(encodeURIComponent).join("/")}`;

/** The market summary alone (the models list needs no trades or holders). */
export async function loadMarketSummary(modelId: string): Promise<Market> {
	const m = await fetchOrNull<Loose>(marketPath(modelId));
	if (!m) return emptyMarket;
	const imo = m.imo as Loose | undefined;
	const raised = digits(imo?.raised);
	const threshold = digits(imo?.threshold);
	return {
		...emptyMarket,
		token: address(m.token),
		sale: address(m.sale),
		price: digits(m.price),
		marketCap: digits(m.market_cap),
		holders: int(m.holders),
		status: m.status === "funding" || m.status === "graduated" ? m.status : null,
		pool: address(m.pool_address),
		imo: raised && threshold ? { raised, threshold } : null,
		revenueSettled: digits(m.revenue_settled),
	};
}

/** Summary, recent trades and top holders of one model. */
export async function loadMarket(modelId: string): Promise<Market> {
	const [summary, trades, holders] = await Promise.all([
		loadMarketSummary(modelId),
		fetchOrNull<unknown>(`${marketPath(modelId)}/trades?limit=10`),
		fetchOrNull<unknown>(`${marketPath(modelId)}/holders?limit=10`),
	]);
	return {
		...summary,
		holders: summary.holders ?? int((holders as Loose | null)?.holders),
		trades:
			rows(trades)
				?.map(toTrade)
				.filter((t): t is Trade => t !== null) ?? null,
		topHolders:
			rows(holders)
				?.map(toHolder)
				.filter((h): h is Holder => h !== null) ?? null,
	};
}
