import { optional } from "./api.ts";

// Market data from the chain indexer (recent trades, top holders, price, holder count).
// Those endpoints are being built alongside this page; until one answers, the page
// shows what it has and says the rest is not available yet, instead of failing.

export interface Trade {
	tx: string | null;
	side: "buy" | "sell";
	trader: string;
	paca: string;
	tokens: string;
	at: number | null;
}

export interface Holder {
	address: string;
	balance: string;
}

export interface Market {
	/** PACA base units per whole token (spot), or null when unknown. */
	price: string | null;
	holders: number | null;
	trades: Trade[] | null;
	topHolders: Holder[] | null;
}

export const emptyMarket: Market = { price: null, holders: null, trades: null, topHolders: null };

type Loose = Record<string, unknown>;
const str = (v: unknown) => (typeof v === "string" || typeof v === "bigint" || typeof v === "number" ? String(v) : null);
const num = (v: unknown) => (typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : null);
const list = (v: unknown): Loose[] | null => {
	const items = Array.isArray(v) ? v : Array.isArray((v as Loose | null)?.data) ? ((v as Loose).data as unknown[]) : null;
	return items ? items.filter((i): i is Loose => typeof i === "object" && i !== null) : null;
};

function toTrade(t: Loose): Trade | null {
	const side =
		t.side ?? (t.is_buy === true || t.isBuy === true ? "buy" : t.is_buy === false || t.isBuy === false ? "sell" : null);
	const paca = str(t.paca ?? t.paca_amount ?? t.pacaAmount);
	const tokens = str(t.tokens ?? t.token_amount ?? t.tokenAmount ?? t.amount);
	const trader = str(t.trader ?? t.account ?? t.buyer ?? t.sender ?? t.recipient);
	if ((side !== "buy" && side !== "sell") || !paca || !tokens || !trader) return null;
	const at = num(t.timestamp ?? t.at ?? t.time ?? t.block_time ?? t.created_at);
	return { tx: str(t.tx ?? t.tx_hash ?? t.transaction_hash), side, trader, paca, tokens, at };
}

function toHolder(h: Loose): Holder | null {
	const address = str(h.address ?? h.account ?? h.holder);
	const balance = str(h.balance ?? h.amount);
	return address && balance ? { address, balance } : null;
}

/** Whatever of the market the API knows for one model (each part null when absent). */
export async function loadMarket(modelPath: string): Promise<Market> {
	const [trades, holders, market] = await Promise.all([
		optional<unknown>(`${modelPath}/trades?limit=10`).catch(() => null),
		optional<unknown>(`${modelPath}/holders?limit=10`).catch(() => null),
		optional<Loose>(`${modelPath}/market`).catch(() => null),
	]);
	const holderRows = list(holders);
	return {
		price: str(market?.price ?? market?.spot_price ?? null),
		holders: num(market?.holders ?? market?.holder_count ?? (holders as Loose | null)?.total ?? null),
		trades:
			list(trades)
				?.map(toTrade)
				.filter((t): t is Trade => t !== null) ?? null,
		topHolders: holderRows?.map(toHolder).filter((h): h is Holder => h !== null) ?? null,
	};
}
