import { useMemo, useState } from "preact/hooks";
import { api, type Model, type ModelStats } from "../data/api.ts";
import { emptyMarket, loadMarketSummary, type Market } from "../data/market.ts";
import { useAsync } from "../data/use-async.ts";
import { formatCount } from "../format.ts";
import { modelHref } from "../router.ts";
import { ErrorNote, Paca, Progress } from "../ui/bits.tsx";

interface Row {
	model: Model;
	stats: ModelStats | null;
	market: Market;
}

type SortKey = "name" | "progress" | "price" | "holders" | "requests" | "fees";

const COLUMNS: Array<{ key: SortKey; label: string }> = [
	{ key: "name", label: "Model" },
	{ key: "progress", label: "IMO / pool" },
	{ key: "price", label: "Price" },
	{ key: "holders", label: "Holders" },
	{ key: "requests", label: "Requests, last min" },
	{ key: "fees", label: "Fees earned" },
];

// Live numbers every few seconds; the chain index changes with blocks, so less often.
// (One request per model and kind: fine for a catalogue of tens; a larger one wants a
// batch endpoint.)
async function loadStats(): Promise<Array<{ model: Model; stats: ModelStats | null }>> {
	const models = await api.models();
	return Promise.all(models.map(async (model) => ({ model, stats: await api.stats(model.id).catch(() => null) })));
}

async function loadMarkets(ids: string[]): Promise<Map<string, Market>> {
	// loadMarketSummary answers emptyMarket itself when a model has no market data.
	const markets = await Promise.all(ids.map((id) => loadMarketSummary(id)));
	return new Map(ids.map((id, i) => [id, markets[i] as Market]));
}

/** Sort keys as bigint so amounts compare exactly; missing values sort last. */
function sortValue(row: Row, key: SortKey): bigint | string | null {
	switch (key) {
		case "name":
			return row.model.name.toLowerCase();
		case "progress": {
			const imo = imoOf(row.model, row.market);
			if (imo.kind === "graduated") return 10n ** 30n;
			return imo.kind === "funding" && BigInt(imo.threshold) > 0n
				? (BigInt(imo.raised) * 1_000_000n) / BigInt(imo.threshold)
				: null;
		}
		case "price":
			return row.market.price === null ? null : BigInt(row.market.price);
		case "holders":
			return row.market.holders === null ? null : BigInt(row.market.holders);
		case "requests":
			return row.stats ? BigInt(row.stats.last_minute.requests) : null;
		case "fees":
			return row.stats ? BigInt(row.stats.total.fees) : null;
	}
}

function compare(a: bigint | string | null, b: bigint | string | null): number {
	if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
	return a < b ? -1 : a > b ? 1 : 0;
}

export function ModelsPage() {
	const live = useAsync(loadStats, [], 5_000);
	const ids = (live.data ?? []).map((r) => r.model.id).join("\n");
	const markets = useAsync(() => loadMarkets(ids ? ids.split("\n") : []), [ids], 30_000);
	const data = useMemo(
		() => live.data?.map((r): Row => ({ ...r, market: markets.data?.get(r.model.id) ?? emptyMarket })),
		[live.data, markets.data],
	);
	const rows = { ...live, data };
	const [sort, setSort] = useState<{ key: SortKey; descending: boolean }>({ key: "requests", descending: true });
	const sorted = useMemo(() => {
		const list = [...(rows.data ?? [])];
		list.sort((x, y) => {
			const a = sortValue(x, sort.key);
			const b = sortValue(y, sort.key);
			if (a === null || b === null) return compare(a, b);
			return sort.descending ? compare(b, a) : compare(a, b);
		});
		return list;
	}, [rows.data, sort]);
	const sortBy = (key: SortKey) =>
		setSort((s) => (s.key === key ? { key, descending: !s.descending } : { key, descending: key !== "name" }));

	return (
		<>
			<h1 tabIndex={-1}>Models</h1>
			<p class="lead">
				Community-owned models: fund one in its IMO, call it through the API, and its holders earn from every call.
			</p>
			<ErrorNote error={rows.error} onRetry={rows.reload} />
			{rows.loading && !rows.data && <p class="muted">Loading models…</p>}
			{rows.data && rows.data.length === 0 && <p class="muted">No models are listed yet.</p>}
			{sorted.length > 0 && (
				<table class="models">
					<caption class="sr-only">Models, sortable by each column</caption>
					<thead>
						<tr>
							{COLUMNS.map((c) => (
								<th
									scope="col"
									key={c.key}
									aria-sort={sort.key === c.key ? (sort.descending ? "descending" : "ascending") : "none"}
								>
									<button type="button" class="sort" onClick={() => sortBy(c.key)}>
										{c.label}
										<span aria-hidden="true">{sort.key === c.key ? (sort.descending ? " ▼" : " ▲") : ""}</span>
									</button>
								</th>
							))}
						</tr>
					</thead>
					<tbody>
						{sorted.map(({ model, stats, market }) => (
							<tr key={model.id}>
								<th scope="row" data-label="Model">
									<a href={modelHref(model.id)}>{model.name}</a>
									<small class="muted block">{model.id}</small>
								</th>
								<td data-label="IMO / pool">
									<ImoCell model={model} market={market} />
								</td>
								<td data-label="Price">{market.price === null ? <Dash /> : <Paca value={market.price} />}</td>
								<td data-label="Holders">{market.holders === null ? <Dash /> : formatCount(market.holders)}</td>
								<td data-label="Requests, last min" class="num">
									{stats ? formatCount(stats.last_minute.requests) : <Dash />}
								</td>
								<td data-label="Fees earned" class="num">
									{stats ? <Paca value={stats.total.fees} /> : <Dash />}
								</td>
							</tr>
						))}
					</tbody>
				</table>
			)}
		</>
	);
}

const Dash = () => (
	<span class="muted" title="Not available yet">
		—
	</span>
);

type Imo =
	| { kind: "none" }
	| { kind: "graduated"; pool: string | null }
	| { kind: "funding"; raised: string; threshold: string }
	| { kind: "open" };

/** IMO state from the chain index when it has the model, else from the catalogue's copy. */
export function imoOf(model: Model, market: Market | null | undefined): Imo {
	if (market?.status === "graduated") return { kind: "graduated", pool: market.pool };
	if (market?.imo) return { kind: "funding", ...market.imo };
	const token = model.token;
	if (!token) return { kind: "none" };
	if (token.imo_status === "graduated") return { kind: "graduated", pool: token.pool_address };
	if (token.raised !== null && token.threshold !== null)
		return { kind: "funding", raised: token.raised, threshold: token.threshold };
	return { kind: "open" };
}

export function ImoCell({ model, market }: { model: Model; market: Market | null | undefined }) {
	const imo = imoOf(model, market);
	switch (imo.kind) {
		case "none":
			return <span class="muted">Not tokenized</span>;
		case "graduated":
			return (
				<span class="badge ok" title={imo.pool ?? undefined}>
					Graduated · Uniswap pool
				</span>
			);
		case "funding":
			return <Progress raised={BigInt(imo.raised)} threshold={BigInt(imo.threshold)} />;
		case "open":
			return <span class="badge">IMO open</span>;
	}
}
