import { useEffect, useState } from "preact/hooks";
import { formatUnits } from "viem";
import type { Model } from "../data/api.ts";
import {
	claim,
	quote,
	quoteToTrade,
	readHolding,
	SALE_OPEN,
	SALE_STATE,
	trade,
	useOnChainChange,
	walletErrorMessage,
} from "../data/chain.ts";
import { readsWallet, showsReadFrom, useNetwork } from "../data/network.ts";
import { useAction } from "../data/use-action.ts";
import { useAsync } from "../data/use-async.ts";
import { connectWallet, hasWallet, useWallet } from "../data/wallet.ts";
import { formatAmount, MAX_SLIPPAGE_BPS, PACA_DECIMALS, parseAmount, parseField, parseSlippage } from "../format.ts";
import { Card, DoneNote, ErrorNote, Paca } from "../ui/bits.tsx";
import { notShown, WalletNumbersHidden } from "../ui/network-banner.tsx";

// Buying and selling on the IMO curve, and the connected wallet's stake in one model.

const SLIPPAGE_KEY = "modeldex.slippageBps";
const SLIPPAGE_CHOICES = [50, 100, 300];

/**
 * The slippage the trade uses, as the panel shows it: the custom field's value when it holds
 * one, else the checked preset. `bps` is null while the custom field holds something that is
 * not a slippage (`problem` says why): then nothing is traded, rather than trading at an
 * earlier value the page no longer shows.
 */
function useSlippage() {
	const [saved] = useState(() => {
		const value = Number(localStorage.getItem(SLIPPAGE_KEY));
		return Number.isInteger(value) && value > 0 && value <= MAX_SLIPPAGE_BPS ? value : 100;
	});
	const [preset, setPreset] = useState(SLIPPAGE_CHOICES.includes(saved) ? saved : 100);
	// A saved custom value comes back in the custom field, where it was typed.
	const [custom, setCustom] = useState(SLIPPAGE_CHOICES.includes(saved) ? "" : String(saved / 100));
	const typed = parseField(custom, parseSlippage);
	const bps = custom.trim() === "" ? preset : typed.value;
	const problem = typed.problem;
	useEffect(() => {
		if (bps !== null) localStorage.setItem(SLIPPAGE_KEY, String(bps));
	}, [bps]);
	return {
		bps,
		problem,
		custom,
		/** The checked preset; none while the custom field is in use. */
		preset: custom.trim() === "" ? preset : null,
		choose: (next: number) => {
			setPreset(next);
			setCustom("");
		},
		type: setCustom,
	};
}

const bpsText = (bps: number) => `${bps / 100}%`;

export function ConnectPrompt({ why }: { why: string }) {
	const wallet = useWallet();
	const [error, setError] = useState<string | null>(null);
	if (!hasWallet()) return <p class="muted">{why}: install a browser wallet (MetaMask, Rabby, …) and reload.</p>;
	return (
		<>
			<p class="muted">{why}: connect your wallet.</p>
			<button
				type="button"
				disabled={wallet.connecting}
				onClick={() =>
					connectWallet().then(
						() => setError(null),
						(e: Error) => setError(e.message),
					)
				}
			>
				{wallet.connecting ? "Waiting for the wallet…" : "Connect wallet"}
			</button>
			<ErrorNote error={error} />
		</>
	);
}

export function TradePanel({ model }: { model: Model }) {
	const wallet = useWallet();
	const token = model.token;
	const [side, setSide] = useState<"buy" | "sell">("buy");
	const [text, setText] = useState("");
	const slippage = useSlippage();
	const [step, setStep] = useState<string | null>(null);
	const [done, setDone] = useState<string | null>(null);
	const [error, setError] = useState<string | null>(null);

	let { value: amount, problem: inputError } = parseField(text, (t) => parseAmount(t));
	const network = useNetwork();
	// Nothing is read through a wallet on another network than the deployment's.
	const reads = readsWallet(network);
	const holding = useAsync(
		() => (token && wallet.address && reads ? readHolding(token.address, wallet.address) : Promise.resolve(null)),
		// The chain too: after the wallet changes network, that network's numbers, not these.
		[token?.address, wallet.address, wallet.chainId, reads],
		// Read again as "Your stake" is: the wallet's balance also moves in other tabs and apps.
		5_000,
	);
	useOnChainChange(holding.reload);
	const held = holding.data && showsReadFrom(network, holding.data.chainId) ? holding.data : null;
	const available = held ? (side === "buy" ? held.pacaBalance : held.balance) : null;
	if (amount !== null && available !== null && amount > available) {
		inputError =
			side === "buy"
				? `You have only ${formatAmount(available)} PACA in this wallet.`
				: `You hold only ${formatAmount(available)} tokens of this model.`;
		amount = null;
	}
	const q = useAsync(
		() => (token && wallet.address && amount && reads ? quote(token.address, side, amount) : Promise.resolve(null)),
		[token?.address, wallet.address, wallet.chainId, reads, side, amount?.toString()],
	);
	const quoted = quoteToTrade(q, token?.address, side, amount);
	const current = quoted && showsReadFrom(network, quoted.chainId) ? quoted : null;
	if (!token) return null;
	if (token.imo_status === "graduated") {
		return (
			<Card title="Trade" id="trade">
				<p>
					This model has graduated: its token trades on its Uniswap V2 pool{token.pool_address ? ` (${token.pool_address})` : ""}.
				</p>
			</Card>
		);
	}
	const minOut = current && slippage.bps !== null ? (current.out * BigInt(10_000 - slippage.bps)) / 10_000n : null;
	const closed = current && current.state !== SALE_OPEN;

	const submit = async (event: Event) => {
		event.preventDefault();
		if (!wallet.address || !amount || !current || minOut === null) return;
		setError(null);
		setDone(null);
		try {
			await trade({
				token: token.address,
				account: wallet.address,
				side,
				amount,
				minOut,
				quotedOn: current.chainId,
				onStep: setStep,
			});
			setDone(
				side === "buy"
					? `Bought. At least ${formatAmount(minOut)} tokens (about ${formatAmount(current.out)}) are in your wallet.`
					: `Sold. At least ${formatAmount(minOut)} PACA (about ${formatAmount(current.out)}) are in your wallet.`,
			);
			setText("");
			q.reload();
		} catch (e) {
			setError(walletErrorMessage(e));
		} finally {
			setStep(null);
		}
	};

	return (
		<Card title="Trade on the IMO curve" id="trade">
			{!wallet.address ? (
				<ConnectPrompt why="To buy or sell" />
			) : (
				<form onSubmit={submit} class="stack">
					<WalletNumbersHidden network={network} />
					<fieldset class="segmented">
						<legend class="sr-only">Buy or sell</legend>
						{(["buy", "sell"] as const).map((s) => (
							<label key={s}>
								<input type="radio" name="side" value={s} checked={side === s} onChange={() => setSide(s)} />
								<span>{s === "buy" ? "Buy" : "Sell"}</span>
							</label>
						))}
					</fieldset>
					<label>
						{side === "buy" ? "Pay (PACA)" : "Sell (tokens)"}
						<input
							inputMode="decimal"
							autoComplete="off"
							placeholder="0.0"
							value={text}
							onInput={(e) => setText(e.currentTarget.value)}
							aria-invalid={inputError ? true : undefined}
							aria-describedby="trade-quote"
						/>
					</label>
					{available !== null && (
						<p class="muted hint">
							{side === "buy" ? "In wallet: " : "You hold: "}
							<button type="button" class="link" onClick={() => setText(formatUnits(available, PACA_DECIMALS))}>
								{formatAmount(available)} {side === "buy" ? "PACA" : "tokens"}
							</button>
						</p>
					)}
					<fieldset class="segmented">
						<legend>Slippage</legend>
						{SLIPPAGE_CHOICES.map((bps) => (
							<label key={bps}>
								<input type="radio" name="slippage" checked={slippage.preset === bps} onChange={() => slippage.choose(bps)} />
								<span>{bpsText(bps)}</span>
							</label>
						))}
						<label class="custom">
							<span class="sr-only">Custom slippage in percent</span>
							<input
								inputMode="decimal"
								autoComplete="off"
								placeholder="custom %"
								value={slippage.custom}
								onInput={(e) => slippage.type(e.currentTarget.value)}
								aria-invalid={slippage.problem ? true : undefined}
								aria-describedby={slippage.problem ? "slippage-problem" : undefined}
							/>
						</label>
					</fieldset>
					{slippage.problem && (
						<p class="note error" role="alert" id="slippage-problem">
							{slippage.problem}
						</p>
					)}
					<div id="trade-quote" aria-live="polite">
						{inputError && <p class="note error">{inputError}</p>}
						{q.error && <ErrorNote error={new Error(walletErrorMessage(q.error))} />}
						{closed && (
							<p class="note error">This IMO is {SALE_STATE[current?.state ?? 0]?.toLowerCase()}: the curve no longer trades.</p>
						)}
						{amount !== null && !current && reads && q.loading && <p class="muted">Getting a price…</p>}
						{current && !closed && (
							<p class="muted">
								{side === "buy" ? (
									<>
										You get about <strong>{formatAmount(current.out)}</strong> tokens
										{minOut !== null && slippage.bps !== null && (
											<>
												{" "}
												(at least {formatAmount(minOut)} at {bpsText(slippage.bps)} slippage)
											</>
										)}
										; fee <Paca value={current.fee} />.
									</>
								) : (
									<>
										You get about <Paca value={current.out} />
										{minOut !== null && slippage.bps !== null && (
											<>
												{" "}
												(at least <Paca value={minOut} /> at {bpsText(slippage.bps)} slippage)
											</>
										)}
										; fee <Paca value={current.fee} />.
									</>
								)}
							</p>
						)}
					</div>
					<button type="submit" disabled={!current || Boolean(closed) || step !== null || current.out === 0n || minOut === null}>
						{step ?? (side === "buy" ? "Buy" : "Sell")}
					</button>
					<DoneNote message={done} />
					<ErrorNote error={error} />
				</form>
			)}
		</Card>
	);
}

export function HoldingPanel({ model }: { model: Model }) {
	const wallet = useWallet();
	const token = model.token;
	const network = useNetwork();
	const reads = readsWallet(network);
	const holding = useAsync(
		() => (token && wallet.address && reads ? readHolding(token.address, wallet.address) : Promise.resolve(null)),
		// The chain too: after the wallet changes network, that network's numbers, not these.
		[token?.address, wallet.address, wallet.chainId, reads],
		5_000,
	);
	useOnChainChange(holding.reload);
	const held = holding.data && showsReadFrom(network, holding.data.chainId) ? holding.data : null;
	const { busy: claiming, error, done, run } = useAction();
	if (!token) return null;
	const doClaim = async () => {
		if (!wallet.address) return;
		await run(async () => {
			const amount = await claim(token.address);
			holding.reload();
			return <Claimed amount={amount} />;
		});
	};
	return (
		<Card title="Your stake" id="stake">
			{!wallet.address ? (
				<ConnectPrompt why="To see your tokens and revenue" />
			) : (
				<>
					<ErrorNote error={holding.error && new Error(walletErrorMessage(holding.error))} onRetry={holding.reload} />
					<WalletNumbersHidden network={network} />
					<dl class="facts">
						<dt>Tokens</dt>
						<dd data-testid="holding-tokens">{held ? formatAmount(held.balance) : notShown(network)}</dd>
						<dt>Claimable revenue</dt>
						<dd data-testid="holding-claimable">{held ? <Paca value={held.claimable} /> : notShown(network)}</dd>
						<dt>PACA in wallet</dt>
						<dd data-testid="holding-paca">{held ? <Paca value={held.pacaBalance} /> : notShown(network)}</dd>
					</dl>
					<button type="button" onClick={doClaim} disabled={claiming || !held || held.claimable === 0n}>
						{claiming ? "Claiming… confirm in your wallet" : "Claim revenue"}
					</button>
					<DoneNote message={done} />
					<ErrorNote error={error} />
				</>
			)}
		</Card>
	);
}

/** What a claim did, for DoneNote: the PACA received, or that nothing was left. */
export function Claimed({ amount, from }: { amount: bigint; from?: string }) {
	if (amount === 0n) return <>Nothing was left to claim{from ? ` from ${from}` : ""}: no PACA moved.</>;
	return (
		<>
			Claimed <Paca value={amount} />
			{from ? ` from ${from}` : ""}. It is in your wallet.
		</>
	);
}
