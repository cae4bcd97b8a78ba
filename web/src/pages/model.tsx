import { useEffect } from "preact/hooks";
import { api, type Model } from "../data/api.ts";
import { type LiveStatus, useLiveStats } from "../data/live.ts";
import { loadMarket } from "../data/market.ts";
import { useAsync } from "../data/use-async.ts";
import { formatCount, formatExact, shortAddress } from "../format.ts";
import { callSnippets } from "../snippets.ts";
import { Card, CopyButton, ErrorNote, Paca, Unavailable } from "../ui/bits.tsx";
import { lazyComponent } from "../ui/lazy.tsx";
import { UsageChart } from "../ui/usage-chart.tsx";
import { ImoCell } from "./models.tsx";

// The wallet features carry viem's contract and signing code: loaded only for tokenized models.
const TradePanel = lazyComponent(() => import("./trade.tsx").then((m) => m.TradePanel));
const HoldingPanel = lazyComponent(() => import("./trade.tsx").then((m) => m.HoldingPanel));

export function ModelPage({ id }: { id: string }) {
	const model = useAsync(() => api.model(id), [id]);
	if (model.error) {
		return (
			<>
				<h1 tabIndex={-1}>{id}</h1>
				<ErrorNote error={model.error} onRetry={model.reload} />
				<p>
					<a href="/">Back to all models</a>
				</p>
			</>
		);
	}
	if (!model.data) {
		return (
			<h1 tabIndex={-1} class="muted">
				Loading {id}…
			</h1>
		);
	}
	return <ModelView model={model.data} />;
}

function ModelView({ model }: { model: Model }) {
	const live = useLiveStats(model.id);
	const usage = useAsync(() => api.usage(model.id), [model.id], 30_000);
	const market = useAsync(() => loadMarket(model.id), [model.id], 15_000);
	// The token as the catalogue knows it, or as the chain index found it.
	const m = market.data;
	const token =
		model.token ??
		(m?.token
			? {
					address: m.token,
					imo_status: m.status ?? "funding",
					sale_address: m.sale,
					pool_address: m.pool,
					raised: m.imo?.raised ?? null,
					threshold: m.imo?.threshold ?? null,
				}
			: null);
	const tradable = token ? { ...model, token } : null;
	const total = live.stats?.total;
	const minute = live.stats?.last_minute;
	const fees24h = (usage.data ?? []).reduce((sum, p) => sum + BigInt(p.fees), 0n);
	// The hourly rollups reach D1 about a second after a call: follow the live counter, a little behind.
	const liveRequests = total?.requests;
	const reloadUsage = usage.reload;
	useEffect(() => {
		if (liveRequests === undefined) return;
		const timer = setTimeout(reloadUsage, 2_500);
		return () => clearTimeout(timer);
	}, [liveRequests, reloadUsage]);

	return (
		<>
			<div class="title">
				<h1 tabIndex={-1}>{model.name}</h1>
				<code class="muted">{model.id}</code>
				{model.huggingface && (
					<a
						class="muted"
						href={`https://huggingface.co/${model.huggingface.repo}${model.huggingface.revision ? `/tree/${model.huggingface.revision}` : ""}`}
						rel="noreferrer"
						target="_blank"
					>
						{model.huggingface.repo} on Hugging Face
					</a>
				)}
			</div>

			<div class="grid">
				<Card title="Live" id="live" actions={<LiveBadge status={live.status} reconnects={live.reconnects} />}>
					<dl class="counters" data-testid="live-counters">
						<div>
							<dt>Requests</dt>
							<dd data-testid="live-requests">{total ? formatCount(total.requests) : "…"}</dd>
						</div>
						<div>
							<dt>Tokens in / out</dt>
							<dd data-testid="live-tokens">
								{total ? `${formatCount(total.prompt_tokens)} / ${formatCount(total.completion_tokens)}` : "…"}
							</dd>
						</div>
						<div>
							<dt>Fees earned</dt>
							<dd data-testid="live-fees">{total ? <Paca value={total.fees} /> : "…"}</dd>
						</div>
						<div>
							<dt>Requests, last minute</dt>
							<dd data-testid="live-minute">
								{minute ? (
									<>
										{formatCount(minute.requests)}
										<small class="sub">
											<Paca value={minute.fees} />
										</small>
									</>
								) : (
									"…"
								)}
							</dd>
						</div>
					</dl>
					{total && total.errors > 0 && (
						<p class="muted">{formatCount(total.errors)} of the requests failed upstream (not charged in full).</p>
					)}
				</Card>

				<Card title="Market" id="market">
					<dl class="facts">
						<dt>IMO</dt>
						<dd>
							<ImoCell model={model} market={market.data} />
						</dd>
						<dt>Price</dt>
						<dd>{market.data?.price ? <Paca value={market.data.price} /> : <span class="muted">—</span>}</dd>
						<dt>Holders</dt>
						<dd data-testid="market-holders">
							{market.data?.holders != null ? formatCount(market.data.holders) : <span class="muted">—</span>}
						</dd>
						{m?.marketCap && (
							<>
								<dt>Market cap</dt>
								<dd>
									<Paca value={m.marketCap} />
								</dd>
							</>
						)}
						{m?.revenueSettled && (
							<>
								<dt>Fees settled</dt>
								<dd title="Inference fees settled to this model on chain (before the protocol and creator shares)">
									<Paca value={m.revenueSettled} />
								</dd>
							</>
						)}
						{token && (
							<>
								<dt>Token</dt>
								<dd>
									<code title={token.address}>{shortAddress(token.address)}</code>
								</dd>
							</>
						)}
					</dl>
					<h3>Prices per 1M tokens</h3>
					<dl class="facts">
						<dt>Input</dt>
						<dd data-testid="price-input">
							<Paca value={model.pricing.input_per_1m_tokens} />
						</dd>
						<dt>Output</dt>
						<dd data-testid="price-output">
							<Paca value={model.pricing.output_per_1m_tokens} />
						</dd>
					</dl>
				</Card>
			</div>

			<Card
				title="Last 24 hours"
				id="usage"
				actions={
					<span class="muted">
						fees <Paca value={fees24h} />
					</span>
				}
			>
				<ErrorNote error={usage.error} onRetry={usage.reload} />
				<UsageChart points={usage.data ?? []} />
			</Card>

			{tradable && (
				<div class="grid">
					<TradePanel model={tradable} />
					<HoldingPanel model={tradable} />
				</div>
			)}

			<div class="grid">
				<Card title="Recent trades" id="trades">
					<ErrorNote error={market.error} />
					{market.data?.trades ? (
						market.data.trades.length === 0 ? (
							<p class="muted">No trades yet.</p>
						) : (
							<ul class="rows">
								{market.data.trades.map((t, i) => (
									<li key={t.tx ?? i}>
										<span class={`badge ${t.side === "buy" ? "ok" : "warn"}`}>{t.side}</span>
										<Paca value={t.tokens} unit={false} /> tokens for <Paca value={t.paca} />
										<small class="muted">
											{shortAddress(t.trader)}
											{t.block !== null ? ` · block ${formatCount(t.block)}` : ""}
										</small>
									</li>
								))}
							</ul>
						)
					) : (
						<Unavailable what="Trades" />
					)}
				</Card>
				<Card title="Top holders" id="holders">
					{market.data?.topHolders ? (
						market.data.topHolders.length === 0 ? (
							<p class="muted">No holders yet.</p>
						) : (
							<ol class="rows">
								{market.data.topHolders.map((h) => (
									<li key={h.address}>
										<code title={h.address}>{shortAddress(h.address)}</code>
										<span class="rank-value" title={formatExact(h.balance)}>
											<Paca value={h.balance} unit={false} /> tokens
											{h.shareBps !== null && (
												<small
													class="muted"
													title="Share of the revenue paid to holders: this balance over the supply that earns it (tokens in the sale, the pool or burned earn none)"
												>
													{" "}
													· {(h.shareBps / 100).toFixed(2)}% of revenue
												</small>
											)}
										</span>
									</li>
								))}
							</ol>
						)
					) : (
						<Unavailable what="Holders" />
					)}
				</Card>
			</div>

			<HowToCall model={model} />
		</>
	);
}

function LiveBadge({ status, reconnects }: { status: LiveStatus; reconnects: number }) {
	const words = {
		connecting: "Connecting…",
		live: reconnects > 0 ? "Live (reconnected)" : "Live",
		reconnecting: "Connection lost, reconnecting…",
	}[status];
	return (
		<span class={`badge ${status === "live" ? "ok" : "warn"}`} role="status" data-testid="live-status">
			{words}
		</span>
	);
}

function HowToCall({ model }: { model: Model }) {
	const { curl, node } = callSnippets(`${location.origin}/v1`, model.id);
	return (
		<Card title="Call it" id="call">
			<p>
				The API is OpenAI-compatible. Get a key on the <a href="/wallet">wallet page</a> (sign in with your wallet, deposit
				credit), then:
			</p>
			{[
				["curl", curl],
				["openai (Node)", node],
			].map(([label, code]) => (
				<div class="snippet" key={label}>
					<div class="snippet-head">
						<span>{label}</span>
						<CopyButton text={code ?? ""} />
					</div>
					{/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling code block must be reachable by keyboard to scroll it */}
					<pre tabIndex={0}>
						<code>{code}</code>
					</pre>
				</div>
			))}
		</Card>
	);
}
