import { useState } from "preact/hooks";
import type { Address } from "viem";
import { type ApiKey, api, depositBadge, latestDeposits, type Model } from "../data/api.ts";
import {
	claim,
	deposit,
	readHolding,
	readWalletPaca,
	signInWithEthereum,
	useOnChainChange,
	walletErrorMessage,
} from "../data/chain.ts";
import { type Network, readsWallet, showsReadFrom, useNetwork } from "../data/network.ts";
import { useAction } from "../data/use-action.ts";
import { useAsync } from "../data/use-async.ts";
import { dropSessionIf, signOut, useWallet, type WalletState } from "../data/wallet.ts";
import { formatAmount, parseAmount, shortAddress } from "../format.ts";
import { modelHref } from "../router.ts";
import { Card, CopyButton, DoneNote, ErrorNote, Paca } from "../ui/bits.tsx";
import { notShown, WalletNumbersHidden } from "../ui/network-banner.tsx";
import { Claimed, ConnectPrompt } from "./trade.tsx";

export function WalletPage() {
	const wallet = useWallet();
	const network = useNetwork();
	const models = useAsync(api.models, []);
	const tokenized = (models.data ?? []).filter((m) => m.token);
	return (
		<>
			<h1 tabIndex={-1}>Wallet</h1>
			{!wallet.address ? (
				<Card title="Connect" id="connect">
					<ConnectPrompt why="To trade, claim revenue, deposit credit and manage API keys" />
				</Card>
			) : (
				<p class="lead">
					Connected as <code title={wallet.address}>{shortAddress(wallet.address)}</code>
					{wallet.chainId !== null && <span class="muted"> on chain {wallet.chainId}</span>}.
				</p>
			)}
			<ErrorNote error={models.error} onRetry={models.reload} />
			{wallet.address && (
				<>
					<Holdings account={wallet.address} network={network} models={tokenized} />
					<div class="grid">
						<DepositCard account={wallet.address} network={network} anyToken={tokenized[0]?.token?.address ?? null} />
						<AccountCard wallet={wallet} />
					</div>
				</>
			)}
		</>
	);
}

function Holdings({ account, network, models }: { account: Address; network: Network; models: Model[] }) {
	return (
		<Card title="Your models" id="holdings">
			<WalletNumbersHidden network={network} />
			{models.length === 0 ? (
				<p class="muted">No model is tokenized yet.</p>
			) : (
				<table class="holdings">
					<thead>
						<tr>
							<th scope="col">Model</th>
							<th scope="col">Tokens</th>
							<th scope="col">Claimable</th>
							<th scope="col">
								<span class="sr-only">Action</span>
							</th>
						</tr>
					</thead>
					<tbody>
						{models.map((m) => (
							<HoldingRow key={m.id} account={account} network={network} model={m} />
						))}
					</tbody>
				</table>
			)}
		</Card>
	);
}

function HoldingRow({ account, network, model }: { account: Address; network: Network; model: Model }) {
	const token = model.token?.address as Address;
	// Nothing is read through a wallet on another network than the deployment's.
	const reads = readsWallet(network);
	const holding = useAsync(
		() => (reads ? readHolding(token, account) : Promise.resolve(null)),
		// The chain too: after the wallet changes network, that network's numbers, not these.
		[token, account, network.kind === "unknown" ? null : network.wallet, reads],
		5_000,
	);
	useOnChainChange(holding.reload);
	const held = holding.data && showsReadFrom(network, holding.data.chainId) ? holding.data : null;
	const { busy, error, done, run } = useAction();
	const doClaim = () =>
		run(async () => {
			const amount = await claim(token);
			holding.reload();
			return <Claimed amount={amount} from={model.name} />;
		});
	return (
		<>
			<tr>
				<th scope="row" data-label="Model">
					<a href={modelHref(model.id)}>{model.name}</a>
				</th>
				<td data-label="Tokens">{held ? formatAmount(held.balance) : notShown(network)}</td>
				<td data-label="Claimable" data-testid={`claimable-${model.id}`}>
					{held ? <Paca value={held.claimable} /> : notShown(network)}
				</td>
				<td>
					<button type="button" class="small" disabled={busy || !held || held.claimable === 0n} onClick={doClaim}>
						{busy ? "Claiming…" : "Claim"}
					</button>
				</td>
			</tr>
			{done && (
				<tr>
					<td colSpan={4}>
						<DoneNote message={done} />
					</td>
				</tr>
			)}
			{(error || holding.error) && (
				<tr>
					<td colSpan={4}>
						<ErrorNote error={error ?? new Error(walletErrorMessage(holding.error))} />
					</td>
				</tr>
			)}
		</>
	);
}

function DepositCard({ account, network, anyToken }: { account: Address; network: Network; anyToken: Address | null }) {
	const reads = readsWallet(network);
	const paca = useAsync(
		async () => (anyToken && reads ? readWalletPaca(anyToken, account) : null),
		[anyToken, account, network.kind === "unknown" ? null : network.wallet, reads],
		10_000,
	);
	useOnChainChange(paca.reload);
	const pacaShown = paca.data && showsReadFrom(network, paca.data.chainId) ? paca.data.balance : null;
	const [text, setText] = useState("");
	const [step, setStep] = useState<string | null>(null);
	const [done, setDone] = useState<string | null>(null);
	const [error, setError] = useState<string | null>(null);
	const submit = async (event: Event) => {
		event.preventDefault();
		if (!anyToken) return;
		setError(null);
		setDone(null);
		try {
			const amount = parseAmount(text);
			await deposit({ token: anyToken, account, amount, onStep: setStep });
			setDone(`Deposited ${formatAmount(amount)} PACA. Your credit goes up once the deposit is confirmed on chain.`);
			setText("");
		} catch (e) {
			setError(walletErrorMessage(e));
		} finally {
			setStep(null);
		}
	};
	return (
		<Card title="Deposit credit" id="deposit">
			<p class="muted">PACA deposited into the revenue vault pays for your API calls.</p>
			{anyToken === null ? (
				<p class="muted">Deposits open once a model is tokenized (the vault is found through it).</p>
			) : (
				<form onSubmit={submit} class="stack">
					<p>
						PACA in wallet:{" "}
						<strong data-testid="wallet-paca">{pacaShown !== null ? <Paca value={pacaShown} /> : notShown(network)}</strong>
					</p>
					<WalletNumbersHidden network={network} />
					<ErrorNote
						error={paca.error && new Error(`Could not read the PACA in this wallet: ${walletErrorMessage(paca.error)}`)}
						onRetry={paca.reload}
					/>
					<label>
						Amount (PACA)
						<input
							inputMode="decimal"
							autoComplete="off"
							placeholder="0.0"
							value={text}
							onInput={(e) => setText(e.currentTarget.value)}
						/>
					</label>
					<button type="submit" disabled={step !== null || text.trim() === ""}>
						{step ?? "Deposit"}
					</button>
					<DoneNote message={done} />
					<ErrorNote error={error} />
				</form>
			)}
		</Card>
	);
}

function AccountCard({ wallet }: { wallet: WalletState }) {
	const { busy, error, run } = useAction();
	if (!wallet.session) {
		return (
			<Card title="API account" id="account">
				<ErrorNote error={busy ? null : wallet.sessionEnded} />
				<p class="muted">Sign in with your wallet (a free signature, no transaction) to see your credit and manage API keys.</p>
				<button type="button" disabled={busy} onClick={() => run(signInWithEthereum)}>
					{busy ? "Sign the message in your wallet…" : "Sign in with Ethereum"}
				</button>
				<ErrorNote error={error} />
			</Card>
		);
	}
	return <SignedIn session={wallet.session} />;
}

/** A session the API no longer accepts (expired, secret rotated) is dropped, so the card offers to sign in again. */
function signedInCall<T>(call: Promise<T>): Promise<T> {
	return call.catch((error: unknown) => {
		dropSessionIf(error);
		throw error;
	});
}

function SignedIn({ session }: { session: string }) {
	const account = useAsync(() => signedInCall(api.account(session)), [session], 10_000);
	const keys = useAsync(() => signedInCall(api.keys(session)), [session]);
	const deposits = useAsync(() => signedInCall(api.deposits(session)), [session], 10_000);
	useOnChainChange(deposits.reload);
	const [name, setName] = useState("");
	const [created, setCreated] = useState<(ApiKey & { key: string }) | null>(null);
	const { busy, error, run: act } = useAction(dropSessionIf);
	const active = (keys.data ?? []).filter((k) => k.revoked_at === null);
	return (
		<Card
			title="API account"
			id="account"
			actions={
				<button type="button" class="small" onClick={() => signOut()}>
					Sign out
				</button>
			}
		>
			<ErrorNote error={account.error} onRetry={account.reload} />
			{account.data && (
				<dl class="facts">
					<dt>Available credit</dt>
					<dd data-testid="credit-available">
						<Paca value={account.data.available} />
					</dd>
					<dt>Held for calls in flight</dt>
					<dd>
						<Paca value={account.data.held} />
					</dd>
					<dt>Spent so far</dt>
					<dd>
						<Paca value={account.data.total_spent} />
					</dd>
				</dl>
			)}
			<ErrorNote
				error={deposits.error && new Error(`Could not load your deposits: ${deposits.error.message}`)}
				onRetry={deposits.reload}
			/>
			{deposits.data && deposits.data.length > 0 && (
				<>
					<h3>Deposits</h3>
					<ul class="rows" data-testid="deposit-list">
						{latestDeposits(deposits.data).map((d) => {
							const badge = depositBadge(d);
							return (
								<li key={`${d.tx_hash}-${d.log_index ?? ""}-${d.block_number}-${d.status ?? ""}`}>
									<Paca value={d.amount} />
									<span class={`badge ${badge.tone}`}>{badge.label}</span>
									<small class="muted">
										block {d.block_number}
										{d.reversal && (
											<>
												{" · "}
												<Paca value={d.reversal.reversed} /> taken back from your credit
												{d.reversal.shortfall !== "0" && (
													<>
														{" "}
														(<Paca value={d.reversal.shortfall} /> of it had already been spent)
													</>
												)}
											</>
										)}
									</small>
								</li>
							);
						})}
					</ul>
				</>
			)}
			<h3>API keys</h3>
			{created && (
				<div class="note ok" role="status">
					<p>
						Your new key <strong>{created.name || created.prefix}</strong>. Copy it now: it is never shown again.
					</p>
					<div class="keyline">
						<code data-testid="new-key">{created.key}</code>
						<CopyButton text={created.key} />
					</div>
				</div>
			)}
			<form
				class="inline"
				onSubmit={(e) => {
					e.preventDefault();
					void act(async () => {
						setCreated(await api.createKey(session, name.trim()));
						setName("");
						keys.reload();
					});
				}}
			>
				<label>
					<span class="sr-only">Name of the new key</span>
					<input placeholder="Key name (optional)" maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
				</label>
				<button type="submit" disabled={busy}>
					Create key
				</button>
			</form>
			<ErrorNote error={error ?? keys.error} />
			{keys.data && active.length === 0 && <p class="muted">No active keys.</p>}
			<ul class="rows" data-testid="key-list">
				{active.map((k) => (
					<li key={k.id}>
						<span>
							<strong>{k.name || "unnamed"}</strong> <code>{k.prefix}</code>
						</span>
						<small class="muted">
							spent <Paca value={k.spent} />
						</small>
						<button
							type="button"
							class="small danger"
							disabled={busy}
							aria-label={`Revoke key ${k.name || k.prefix}`}
							onClick={() =>
								void act(async () => {
									await api.revokeKey(session, k.id);
									if (created?.id === k.id) setCreated(null);
									keys.reload();
								})
							}
						>
							Revoke
						</button>
					</li>
				))}
			</ul>
		</Card>
	);
}
