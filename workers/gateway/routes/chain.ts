import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
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
	type WithdrawalRow,
	withdrawalById,
	withdrawalsOf,
} from "../../../lib/db/chain.ts";
import { ledgerFor } from "../accounts.ts";
import type { App, AppEnv } from "../app.ts";
import { idempotencyKeyOf, modelPath, readJsonBody } from "../body.ts";
import { deploymentChainId, readConfig } from "../env.ts";
import { ApiError, idempotencyConflict } from "../errors.ts";
import { ErrorBody } from "../schemas/public.ts";
import { requireSession } from "../session.ts";
import { BaseUnits } from "./account.ts";

// Read API over the chain index (workers/indexer) and the settlement records
// (workers/settler). Money leaves as decimal strings of PACA base units.
//
//   GET /v1/chain                     the chain the contracts are on (CHAIN_ID), for wallets to switch to
//   GET /v1/account/usage?epoch=N     the signed-in payer's leaves of epoch N with Merkle proofs
//   GET /v1/account/deposits          the payer's indexed deposits: pending, credited, or reversed by a reorg
//   POST /v1/account/withdrawals      {amount}: locks unused credit; the settler pays it from the vault
//   GET /v1/account/withdrawals       the payer's withdrawals and their state
//   GET /v1/markets/{model id}        IMO progress, price, market cap, pool, revenue settled, holders
//   GET /v1/markets/{model id}/trades recent curve trades (?limit=, at most 100)
//   GET /v1/markets/{model id}/holders top holders (?limit=, at most 100)

const E18 = 10n ** 18n;

const WithdrawalBody = z.strictObject({ amount: BaseUnits });

export function registerChainRoutes(app: App): void {
	documentChainRoutes(app);

	app.openapi(
		createRoute({
			method: "get",
			path: "/v1/chain",
			summary: "The chain Modeldex's contracts are on: send transactions only from a wallet on it",
			responses: { 200: { description: "The chain", content: { "application/json": { schema: ChainObject } } } },
		}),
		(c) => c.json({ object: "chain" as const, chain_id: deploymentChainId(c.env) }, 200),
	);

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
		if (tree.root !== row.usageRoot) {
			// The leaves no longer make the root the settle carried (D1 edited or restored apart):
			// proofs from them would not verify, and the payer must not get them as if they did.
			console.error(`usage proofs: epoch ${epoch}'s leaves make root ${tree.root}, its row says ${row.usageRoot}`);
			throw new ApiError("internal_error", `The usage of epoch ${epoch} cannot be proven right now; the operators are told.`);
		}
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
		const include = c.req.query("include");
		if (include !== undefined && include !== "reversed") {
			throw new ApiError("invalid_request", `'include' can only be 'reversed', not '${include}'.`, { param: "include" });
		}
		const [rows, reversals] = await Promise.all([depositsOf(db, payer), reversalsOf(db, payer)]);
		return c.json(depositList(rows, reversals, include === "reversed"));
	});

	app.post("/v1/account/withdrawals", async (c) => {
		const { payer } = await requireSession(c.env, c.req.header("authorization"));
		const { value } = await readJsonBody(c, WithdrawalBody, readConfig(c.env).maxBodyBytes);
		if (value.amount === 0n) throw new ApiError("invalid_request", "Invalid 'amount': must be positive.", { param: "amount" });
		const db = c.get("db");
		const ledger = ledgerFor(c.env, payer);
		// With an Idempotency-Key the id is derived from it, so a retried request finds the
		// first one (and its lock) instead of locking the amount a second time.
		const idempotencyKey = idempotencyKeyOf(c);
		const id = keccak256(
			stringToHex(`modeldex-withdrawal:${payer}:${idempotencyKey === null ? crypto.randomUUID() : `idem:${idempotencyKey}`}`),
		);
		const earlier = idempotencyKey === null ? undefined : await withdrawalById(db, id);
		if (earlier) return replayWithdrawal(c, earlier, value.amount, ledger);
		const requestedAt = Date.now();
		// D1 first, then the lock, and only the request whose insert made the row locks it, for the
		// row's amount: a request racing it with the same key answers from that row and changes
		// nothing. A crash in between leaves a request without a lock, which is never paid (the
		// settler refuses it later), never an unlocked payout nor a lock without a row.
		const row = { id, payer, amount: value.amount, state: "requested" as const, txHash: null, requestedAt, paidAt: null };
		if (!(await insertWithdrawal(db, row))) {
			const first = await withdrawalById(db, id);
			if (!first) throw new Error(`withdrawal ${id}: neither inserted nor found`);
			return replayWithdrawal(c, first, value.amount, ledger);
		}
		const lock = await ledger.lockWithdrawal(id, value.amount);
		if (!lock.ok) {
			if (lock.conflict === "amount") {
				// A lock of another amount under this id without its row (D1 restored from a backup):
				// the row cannot be paid; the settler refuses it and releases that lock.
				throw idempotencyConflict(OTHER_AMOUNT, true);
			}
			// Only this request locks this row, so no lock is left behind when it refuses it.
			await runBatch(db, [updateWithdrawal(db, id, { state: "refused" })]);
			if (lock.conflict === "refused") throw idempotencyConflict(REFUSED, true);
			throw new ApiError(
				"insufficient_quota",
				`Insufficient credit: ${lock.available < 0n ? 0n : lock.available} base units are available to withdraw.`,
				{ param: "amount" },
			);
		}
		c.header("cache-control", "no-store");
		return c.json(withdrawalView(row), 201);
	});

	app.get("/v1/account/withdrawals", async (c) => {
		const { payer } = await requireSession(c.env, c.req.header("authorization"));
		return c.json({ object: "list", data: (await withdrawalsOf(c.get("db"), payer)).map(withdrawalView) });
	});

	// Model ids contain a slash, so one route takes the rest of the path (as /v1/models/* does).
	app.get("/v1/markets/*", async (c) => {
		const db = c.get("db");
		const path = c.req.path.slice("/v1/markets/".length);
		const { id, view, found: market } = await modelPath(path, ["trades", "holders"], (id) => marketByModel(db, id));
		if (!market) throw new ApiError("model_not_found", `The model '${id}' has no indexed token.`, { param: "id" });
		const limit = listLimit(c.req.query("limit"));
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
					share_bps: shareBps(h.balance, market.shareSupply),
				})),
			});
		}
		return c.json(marketView(market));
	});
}

/**
 * A holder's share of the revenue the token pays out, in basis points rounded down: balance over
 * the share supply (ModelToken.shareSupply, which leaves out the sale, the pool pair, the dead
 * address, the token itself and the vault), not over the total supply, most of which the sale or
 * the pool may hold. Null while the indexer has not derived the share supply.
 */
function shareBps(balance: bigint, shareSupply: bigint | null): number | null {
	if (shareSupply === null || shareSupply === 0n) return null;
	return Number((balance * 10_000n) / shareSupply);
}

type DepositRow = Awaited<ReturnType<typeof depositsOf>>[number];
type ReversalRow = Awaited<ReturnType<typeof reversalsOf>>[number];

/**
 * The payer's deposits, newest first (by block, then log), each with its status: `pending` (indexed,
 * not credited yet: waiting for confirmations), `credited`, or `reversed` (credited, then a chain
 * reorg removed it and its credit was taken back, with what the payer had already spent of it as
 * the shortfall). A reversed deposit stays listed after the rollback deleted its row, from its
 * reversal; a reversal whose credit was applied again (the same log came back) is not listed. The
 * `reversed` list is the older shape of the reversals, kept for clients that read it; it also has
 * the reversals recorded before their deposit's transaction was kept, which `data` cannot place.
 */
function depositList(rows: DepositRow[], reversals: ReversalRow[], withReversed: boolean) {
	const credited = new Set(rows.filter((d) => d.creditedAt !== null).map((d) => d.creditId));
	const open = new Map(reversals.filter((r) => !credited.has(r.creditId)).map((r) => [r.creditId, r]));
	/** One deposit as listed: its log, amount and status, with the reversal when reversed. */
	const entry = (
		d: { txHash: string; logIndex: number; blockNumber: number; sender: string; amount: bigint },
		r: ReversalRow | undefined,
		credited: boolean,
	) => ({
		tx_hash: d.txHash,
		log_index: d.logIndex,
		block_number: d.blockNumber,
		from: d.sender,
		amount: d.amount.toString(),
		credited,
		status: credited ? ("credited" as const) : r ? ("reversed" as const) : ("pending" as const),
		reversal: r ? { reversed: r.reversed.toString(), shortfall: r.shortfall.toString() } : null,
	});
	// A rollback that reversed the credit and stopped before deleting the row: reversed until credited again.
	const data = rows.map((d) => entry(d, d.creditedAt === null ? open.get(d.creditId) : undefined, d.creditedAt !== null));
	const rowIds = new Set(rows.map((d) => d.creditId));
	for (const r of open.values()) {
		const { txHash, logIndex, blockNumber, sender } = r;
		if (rowIds.has(r.creditId) || txHash === null || logIndex === null || blockNumber === null || sender === null) continue;
		data.push(entry({ txHash, logIndex, blockNumber, sender, amount: r.amount }, r, false));
	}
	// A stable sort: a reversed deposit and its replacement on the new chain can share a block and
	// log index, and the replacement (a row, pushed first) stays first.
	data.sort((a, b) => b.block_number - a.block_number || b.log_index - a.log_index);
	return {
		object: "list" as const,
		// Reversed deposits only when asked for: a client from before `status` reads credited: false
		// as "on its way", and could take a reversed one for the same transaction mined again.
		data: withReversed ? data : data.filter((d) => d.status !== "reversed"),
		reversed: [...open.values()].map((r) => ({
			credit_id: r.creditId,
			tx_hash: r.txHash,
			block_number: r.blockNumber,
			amount: r.amount.toString(),
			reversed: r.reversed.toString(),
			shortfall: r.shortfall.toString(),
		})),
	};
}

const REFUSED = "The withdrawal with this Idempotency-Key was refused; retry with a new key.";
const OTHER_AMOUNT = "This Idempotency-Key was used for a withdrawal of another amount.";

/**
 * The answer to a request whose Idempotency-Key already has a withdrawal: that withdrawal,
 * once its lock is in the ledger; a conflict when it is of another amount, was refused, or
 * its request has not locked it yet (it may still be refused).
 */
async function replayWithdrawal(
	c: Context<AppEnv>,
	w: WithdrawalRow,
	amount: bigint,
	ledger: ReturnType<typeof ledgerFor>,
): Promise<Response> {
	if (w.amount !== amount) throw idempotencyConflict(OTHER_AMOUNT, true);
	if (w.state === "refused") throw idempotencyConflict(REFUSED, true);
	if (w.state === "requested" && (await ledger.withdrawalLock(w.id))?.amount !== w.amount) {
		throw idempotencyConflict("The withdrawal with this Idempotency-Key is still being requested; retry shortly.", false);
	}
	c.header("cache-control", "no-store");
	c.header("idempotent-replayed", "true");
	return c.json(withdrawalView(w), 200);
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
		/** ModelToken.shareSupply(): the part of the supply holders' revenue is shared over. */
		share_supply: m.shareSupply?.toString() ?? null,
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

// ── OpenAPI ─────────────────────────────────────────────────────────────────

const SHARE_SUPPLY =
	"The share supply is ModelToken.shareSupply(), the token base units that earn revenue: the total supply less what the bonding-curve sale, the Uniswap V2 pair, the dead address (0x…dEaD), the token contract itself and the RevenueVault hold. Those accounts cannot claim, so their part goes to the other holders.";

const Amount = z
	.string()
	.openapi({ description: "PACA base units (18 decimals) as a decimal string", example: "1000000000000000000" });
const AddressString = z.string().openapi({ example: "0x5fbdb2315678afecb367f032d93f642f64180aa3" });

const ChainObject = z
	.object({
		object: z.literal("chain"),
		chain_id: z.number().int().nullable().openapi({
			example: 31337,
			description:
				"EIP-155 chain id of the deployment (the gateway's CHAIN_ID); null when the operator has not set it. The same deployer key gives the same contract addresses on every chain, so check a wallet's chain before sending.",
		}),
	})
	.openapi("Chain");

const UsageEpoch = z
	.object({
		object: z.literal("usage_epoch"),
		epoch: z.number().int(),
		payer: AddressString,
		start: z.number().int(),
		end: z.number().int(),
		status: z.enum(["prepared", "sent", "confirmed", "empty"]),
		usage_root: z.string(),
		settle_tx: z.string().nullable(),
		leaf_encoding: z.array(z.string()),
		data: z.array(
			z.object({
				model: z.string(),
				token: AddressString,
				input_tokens: z.string(),
				output_tokens: z.string(),
				fee: Amount,
				proof: z.array(z.string()),
			}),
		),
	})
	.openapi("UsageEpoch", {
		description:
			"The payer's usage leaves of one epoch. Check one on chain with OpenZeppelin's MerkleProof.verify(proof, RevenueVault.usageRoot(epoch), keccak256(bytes.concat(keccak256(abi.encode(epoch, payer, token, input_tokens, output_tokens, fee))))).",
	});

const Withdrawal = z
	.object({
		id: z.string(),
		object: z.literal("withdrawal"),
		amount: Amount,
		status: z.enum(["requested", "sent", "paid", "refused"]),
		tx_hash: z.string().nullable(),
		requested_at: z.number().int(),
		paid_at: z.number().int().nullable(),
	})
	.openapi("Withdrawal");

const Deposit = z
	.object({
		tx_hash: z.string(),
		log_index: z.number().int(),
		block_number: z.number().int(),
		from: AddressString,
		amount: Amount,
		credited: z.boolean().openapi({ description: "Whether the amount is in the payer's credit now (status credited)" }),
		status: z.enum(["pending", "credited", "reversed"]).openapi({
			description:
				"pending: indexed, waiting for confirmations before it is credited; credited: in the payer's credit; reversed: it was credited, then a chain reorg removed the deposit and its credit was taken back (see reversal). If the chain brings the same log back, it is credited again and listed as such; if its transaction is mined again in another block, that is a new deposit, listed beside the reversed one.",
		}),
		reversal: z
			.object({
				reversed: Amount.openapi({ description: "What was taken back from the payer's credit" }),
				shortfall: Amount.openapi({
					description: "What the payer had already spent of it and could not be taken back (amount = reversed + shortfall)",
				}),
			})
			.nullable()
			.openapi({ description: "Set when status is reversed" }),
	})
	.openapi("Deposit");

const Market = z
	.object({
		object: z.literal("model_market"),
		model: z.string(),
		token: AddressString,
		sale: AddressString,
		status: z.enum(["funding", "graduated"]),
		pool_address: AddressString.nullable(),
		imo: z.object({ raised: Amount, threshold: Amount, progress_bps: z.number().int() }),
		price: Amount,
		market_cap: Amount,
		total_supply: Amount,
		share_supply: z
			.string()
			.nullable()
			.openapi({
				example: "150000000000000000000000000",
				description: `${SHARE_SUPPLY} Null while the indexer has not derived it (a market indexed before this field, until the indexer's next run).`,
			}),
		revenue_settled: Amount,
		holders: z.number().int(),
	})
	.openapi("ModelMarket");

const HolderList = z
	.object({
		object: z.literal("list"),
		holders: z.number().int().openapi({ description: "How many accounts hold the token, excluded accounts not counted" }),
		data: z.array(
			z.object({
				account: AddressString,
				balance: z.string().openapi({ description: "Token base units (18 decimals) as a decimal string" }),
				share_bps: z
					.number()
					.int()
					.nullable()
					.openapi({
						example: 1250,
						description:
							"The holder's share of the model's revenue to holders, in basis points (1/100 of a percent), rounded down: balance × 10000 / share_supply. " +
							`It is over the share supply, not the total supply: ${SHARE_SUPPLY} Null while the indexer has not derived the share supply.`,
					}),
			}),
		),
	})
	.openapi("MarketHolders", {
		description:
			"Top holders by balance. The accounts that take no revenue share (the sale, the pool pair, the dead address, the token itself, the RevenueVault) are not listed.",
	});

function documentChainRoutes(app: App): void {
	const error = (description: string) => ({ description, content: { "application/json": { schema: ErrorBody } } });
	const json = (description: string, schema: z.ZodType) => ({ description, content: { "application/json": { schema } } });
	// These routes take a session token (mdxs_..., routes/account.ts registers the scheme), never an API key.
	const session = [{ session: [] }];
	app.openAPIRegistry.registerPath({
		method: "get",
		path: "/v1/account/usage",
		summary: "The signed-in payer's usage leaves of a settled epoch, with Merkle proofs",
		security: session,
		request: { query: z.object({ epoch: z.string().openapi({ example: "29928084" }) }) },
		responses: { 200: json("Leaves and proofs", UsageEpoch), 401: error("No session"), 404: error("Epoch not closed") },
	});
	app.openAPIRegistry.registerPath({
		method: "get",
		path: "/v1/account/deposits",
		summary: "The signed-in payer's vault deposits, newest first: pending, credited, or reversed by a chain reorg",
		security: session,
		request: {
			query: z.object({
				include: z.enum(["reversed"]).optional().openapi({
					description:
						"reversed: list deposits a chain reorg reversed in data too (status reversed); without it, data has pending and credited ones only",
				}),
			}),
		},
		responses: {
			200: json(
				"Deposits",
				z.object({
					object: z.literal("list"),
					data: z.array(Deposit),
					reversed: z
						.array(
							z.object({
								credit_id: z.string(),
								tx_hash: z.string().nullable(),
								block_number: z.number().int().nullable(),
								amount: Amount,
								reversed: Amount,
								shortfall: Amount,
							}),
						)
						.openapi({
							description:
								"The reversed deposits' credits, the older shape kept for existing clients: data lists them too, with their status, except those reversed before the API kept their transaction (tx_hash null here)",
						}),
				}),
			),
			401: error("No session"),
		},
	});
	app.openAPIRegistry.registerPath({
		method: "post",
		path: "/v1/account/withdrawals",
		summary: "Withdraw unused credit: locked at once, paid from RevenueVault by the settler",
		security: session,
		request: { body: { content: { "application/json": { schema: z.object({ amount: Amount }) } } } },
		responses: {
			201: json("Requested", Withdrawal),
			200: json("The withdrawal of this Idempotency-Key (replayed)", Withdrawal),
			400: error("Invalid body (amount not a positive decimal string of base units) or Idempotency-Key"),
			401: error("No session"),
			402: error("More than the available credit"),
			409: error("The Idempotency-Key has a withdrawal of another amount, a refused one, or one not locked yet"),
			413: error("Body over the size limit"),
		},
	});
	app.openAPIRegistry.registerPath({
		method: "get",
		path: "/v1/account/withdrawals",
		summary: "The signed-in payer's withdrawals",
		security: session,
		responses: {
			200: json("Withdrawals", z.object({ object: z.literal("list"), data: z.array(Withdrawal) })),
			401: error("No session"),
		},
	});
	const params = z.object({ id: z.string().openapi({ example: "meta-llama/Llama-3.1-8B-Instruct" }) });
	app.openAPIRegistry.registerPath({
		method: "get",
		path: "/v1/markets/{id}",
		summary: "A model's market: IMO progress, price, market cap, pool, revenue settled, holders",
		request: { params },
		responses: { 200: json("The market", Market), 404: error("No indexed token for this model") },
	});
	for (const view of ["trades", "holders"] as const) {
		app.openAPIRegistry.registerPath({
			method: "get",
			path: `/v1/markets/{id}/${view}`,
			summary:
				view === "trades" ? "Recent bonding-curve trades, newest first" : "Top holders by balance, with their revenue share",
			request: { params, query: z.object({ limit: z.string().optional().openapi({ example: "20" }) }) },
			responses: {
				200: view === "holders" ? json("Top holders", HolderList) : { description: "A list" },
				404: error("No indexed token for this model"),
			},
		});
	}
}

/** `?limit=`: 20 unless given; a whole number from 1 to 100 (else the client hears why, not a 500 or a silent 20). */
function listLimit(raw: string | undefined): number {
	if (raw === undefined) return 20;
	const limit = /^\d{1,3}$/.test(raw) ? Number(raw) : 0;
	if (limit < 1 || limit > 100) {
		throw new ApiError("invalid_request", `'limit' must be a whole number from 1 to 100, not '${raw}'.`, { param: "limit" });
	}
	return limit;
}
