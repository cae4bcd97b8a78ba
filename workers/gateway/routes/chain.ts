import { z } from "@hono/zod-openapi";
import { type Address, keccak256, stringToHex } from "viem";
import { buildUsageTree, USAGE_LEAF_ENCODING, type UsageLeaf } from "../../../lib/chain/usage-tree.ts";
import {
	depositsOf,
	epochRow,
	insertWithdrawal,
	leavesOfEpoch,
	type MarketRow,
	marketByModel,
	recentTrades,
	reversalsOf,
	runBatch,
	topHolders,
	updateWithdrawal,
	withdrawalsOf,
} from "../../../lib/db/chain.ts";
import { ledgerFor } from "../accounts.ts";
import type { App } from "../app.ts";
import { readJsonBody } from "../body.ts";
import { readConfig } from "../env.ts";
import { ApiError } from "../errors.ts";
import { requireSession } from "../session.ts";
import { BaseUnits } from "./account.ts";

// Read API over the chain index (workers/indexer) and the settlement records
// (workers/settler). Money leaves as decimal strings of PACA base units.
//
//   GET /v1/account/usage?epoch=N     the signed-in payer's leaves of epoch N with Merkle proofs
//   GET /v1/account/deposits          the payer's indexed deposits (and credits undone by reorgs)
//   POST /v1/account/withdrawals      {amount}: locks unused credit; the settler pays it from the vault
//   GET /v1/account/withdrawals       the payer's withdrawals and their state
//   GET /v1/markets/{model id}        IMO progress, price, market cap, pool, revenue settled, holders
//   GET /v1/markets/{model id}/trades recent curve trades (?limit=, at most 100)
//   GET /v1/markets/{model id}/holders top holders (?limit=, at most 100)

const E18 = 10n ** 18n;

const WithdrawalBody = z.strictObject({ amount: BaseUnits });

export function registerChainRoutes(app: App): void {
	app.get("/v1/account/usage", async (c) => {
		const { payer } = await requireSession(c.env, c.req.header("authorization"));
		const raw = c.req.query("epoch") ?? "";
		if (!/^\d{1,15}$/.test(raw)) {
			throw new ApiError("invalid_request", "Invalid 'epoch': must be a non-negative integer.", { param: "epoch" });
		}
		const epoch = Number(raw);
		const db = c.get("db");
		const row = await epochRow(db, epoch);
		if (!row) throw new ApiError("not_found", `Epoch ${epoch} has not been closed.`, { param: "epoch" });
		const leaves = (await leavesOfEpoch(db, epoch)).map((l) => ({
			modelId: l.modelId,
			leaf: {
				epoch: BigInt(epoch),
				payer: l.payer as Address,
				model: l.token as Address,
				inputTokens: BigInt(l.inputTokens),
				outputTokens: BigInt(l.outputTokens),
				fee: l.fee,
			} satisfies UsageLeaf,
		}));
		const tree = buildUsageTree(leaves.map((l) => l.leaf));
		const mine = leaves.filter((l) => l.leaf.payer === payer.toLowerCase());
		return c.json({
			object: "usage_epoch",
			epoch,
			payer,
			start: Math.floor(row.startMs / 1000),
			end: Math.floor(row.endMs / 1000),
			/** prepared / sent: the root is not on chain yet; confirmed: RevenueVault.usageRoot(epoch) holds it. */
			status: row.state,
			usage_root: row.usageRoot,
			settle_tx: row.confirmedTx,
			leaf_encoding: USAGE_LEAF_ENCODING,
			data: mine.map(({ modelId, leaf }) => ({
				model: modelId,
				token: leaf.model,
				input_tokens: leaf.inputTokens.toString(),
				output_tokens: leaf.outputTokens.toString(),
				fee: leaf.fee.toString(),
				proof: tree.proofFor(leaf),
			})),
		});
	});

	app.get("/v1/account/deposits", async (c) => {
		const { payer } = await requireSession(c.env, c.req.header("authorization"));
		const db = c.get("db");
		const [rows, reversals] = await Promise.all([depositsOf(db, payer), reversalsOf(db, payer)]);
		return c.json({
			object: "list",
			data: rows.map((d) => ({
				tx_hash: d.txHash,
				log_index: d.logIndex,
				block_number: d.blockNumber,
				from: d.sender,
				amount: d.amount.toString(),
				credited: d.creditedAt !== null,
			})),
			reversed: reversals.map((r) => ({
				credit_id: r.creditId,
				amount: r.amount.toString(),
				reversed: r.reversed.toString(),
				shortfall: r.shortfall.toString(),
			})),
		});
	});

	app.post("/v1/account/withdrawals", async (c) => {
		const { payer } = await requireSession(c.env, c.req.header("authorization"));
		const { value } = await readJsonBody(c, WithdrawalBody, readConfig(c.env).maxBodyBytes);
		if (value.amount === 0n) throw new ApiError("invalid_request", "Invalid 'amount': must be positive.", { param: "amount" });
		const db = c.get("db");
		const id = keccak256(stringToHex(`modeldex-withdrawal:${payer}:${crypto.randomUUID()}`));
		const requestedAt = Date.now();
		// D1 first, then the lock: the settler pays only rows whose lock it finds in the ledger,
		// so a crash in between leaves a request that is never paid (and is refused later), never an unlocked payout.
		await runBatch(db, [insertWithdrawal(db, { id, payer, amount: value.amount, state: "requested", requestedAt })]);
		const lock = await ledgerFor(c.env, payer).lockWithdrawal(id, value.amount);
		if (!lock.ok) {
			await runBatch(db, [updateWithdrawal(db, id, { state: "refused" })]);
			throw new ApiError(
				"insufficient_quota",
				`Insufficient credit: ${lock.available < 0n ? 0n : lock.available} base units are available to withdraw.`,
				{ param: "amount" },
			);
		}
		c.header("cache-control", "no-store");
		return c.json(withdrawalView({ id, amount: value.amount, state: "requested", txHash: null, requestedAt, paidAt: null }), 201);
	});

	app.get("/v1/account/withdrawals", async (c) => {
		const { payer } = await requireSession(c.env, c.req.header("authorization"));
		return c.json({ object: "list", data: (await withdrawalsOf(c.get("db"), payer)).map(withdrawalView) });
	});

	// Model ids contain a slash, so one route takes the rest of the path (as /v1/models/* does).
	app.get("/v1/markets/*", async (c) => {
		const rest = c.req.path.slice("/v1/markets/".length);
		const [, rawId = "", view = ""] = /^(.+?)(?:\/(trades|holders))?$/.exec(rest) ?? [];
		const id = decodeURIComponent(rawId);
		const db = c.get("db");
		const market = await marketByModel(db, id);
		if (!market) throw new ApiError("model_not_found", `The model '${id}' has no indexed token.`, { param: "id" });
		const limit = Math.min(Math.max(Number(c.req.query("limit") ?? 20) || 20, 1), 100);
		if (view === "trades") {
			const trades = await recentTrades(db, market.token, limit);
			return c.json({
				object: "list",
				data: trades.map((t) => ({
					tx_hash: t.txHash,
					block_number: t.blockNumber,
					side: t.isBuy ? "buy" : "sell",
					trader: t.trader,
					paca_amount: t.pacaAmount.toString(),
					token_amount: t.tokenAmount.toString(),
					fee: t.fee.toString(),
					price_after: t.virtualToken === 0n ? "0" : ((t.virtualPaca * E18) / t.virtualToken).toString(),
				})),
			});
		}
		if (view === "holders") {
			const top = await topHolders(db, market.token, limit, [market.sale, market.pair]);
			return c.json({
				object: "list",
				holders: market.holders,
				data: top.map((h) => ({
					account: h.account,
					balance: h.balance.toString(),
					share_bps: Number((h.balance * 10_000n) / market.totalSupply),
				})),
			});
		}
		return c.json(marketView(market));
	});
}

function withdrawalView(w: {
	id: string;
	amount: bigint;
	state: string;
	txHash: string | null;
	requestedAt: number;
	paidAt: number | null;
}) {
	return {
		id: w.id,
		object: "withdrawal",
		amount: w.amount.toString(),
		status: w.state,
		tx_hash: w.txHash,
		requested_at: Math.floor(w.requestedAt / 1000),
		paid_at: w.paidAt === null ? null : Math.floor(w.paidAt / 1000),
	};
}

export function marketView(m: MarketRow) {
	const progressBps = m.graduationThreshold === 0n ? 0 : Number((m.raised * 10_000n) / m.graduationThreshold);
	return {
		object: "model_market",
		model: m.modelId,
		name: m.name,
		symbol: m.symbol,
		token: m.token,
		sale: m.sale,
		creator: m.creator,
		status: m.status,
		/** The Uniswap V2 MODEL/PACA pool, once the sale graduated. */
		pool_address: m.status === "graduated" ? m.pair : null,
		imo: {
			raised: m.raised.toString(),
			threshold: m.graduationThreshold.toString(),
			progress_bps: m.status === "graduated" ? 10_000 : Math.min(progressBps, 10_000),
		},
		/** PACA base units per whole token (1e18 base units), from the curve's reserves. */
		price: m.price.toString(),
		market_cap: ((m.price * m.totalSupply) / E18).toString(),
		total_supply: m.totalSupply.toString(),
		pricing: {
			input_per_1m_tokens: m.inputPricePerM.toString(),
			output_per_1m_tokens: m.outputPricePerM.toString(),
			currency: "PACA",
		},
		/** Cumulative inference fees settled to the model on chain (RevenueVault.settledFees). */
		revenue_settled: m.revenueSettled.toString(),
		holders: m.holders,
		tokenized_block: m.tokenizedBlock,
	};
}
