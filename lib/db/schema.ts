// The one D1 schema. drizzle-kit generates migrations/ from this file; every
// Worker reads and writes through these tables.
//
// Money columns hold PACA base units (18 decimals) as decimal TEXT: SQLite's
// INTEGER is 64-bit and 2^63 base units is only ~9.2 PACA, and REAL would
// round. Sums over money happen in TypeScript with bigint, never in SQL.
import { sql } from "drizzle-orm";
import { customType, index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const baseUnits = customType<{ data: bigint; driverData: string }>({
	dataType: () => "text",
	toDriver: (value) => value.toString(),
	fromDriver: (value) => BigInt(value),
});

const createdAt = () => integer("created_at", { mode: "number" }).notNull().default(sql`(unixepoch('subsec') * 1000)`);

/** An API key. Only the SHA-256 of the key is stored; `prefix` is the part shown in listings. */
export const apiKeys = sqliteTable(
	"api_keys",
	{
		id: text("id").primaryKey(),
		keyHash: text("key_hash").notNull().unique(),
		prefix: text("prefix").notNull(),
		payer: text("payer").notNull(),
		name: text("name").notNull().default(""),
		createdAt: createdAt(),
		revokedAt: integer("revoked_at", { mode: "number" }),
	},
	(t) => [index("api_keys_payer").on(t.payer)],
);

/** A tokenized model callable through the API. `id` is the name clients pass as `model`. */
export const models = sqliteTable("models", {
	id: text("id").primaryKey(),
	displayName: text("display_name").notNull(),
	hfRepo: text("hf_repo"),
	hfRevision: text("hf_revision"),
	tokenAddress: text("token_address"),
	inputPricePerM: baseUnits("input_price_per_m").notNull(),
	outputPricePerM: baseUnits("output_price_per_m").notNull(),
	/** Completion tokens a request may produce when it names no max_tokens; also the hold's bound. */
	maxOutputTokens: integer("max_output_tokens").notNull().default(4096),
	enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
	// The model's market, kept by the indexer from chain events.
	imoStatus: text("imo_status", { enum: ["none", "funding", "graduated"] })
		.notNull()
		.default("none"),
	saleAddress: text("sale_address"),
	poolAddress: text("pool_address"),
	imoRaised: baseUnits("imo_raised"),
	imoThreshold: baseUnits("imo_threshold"),
	createdAt: createdAt(),
});

/** Where a model's requests go, tried in `position` order. */
export const modelUpstreams = sqliteTable(
	"model_upstreams",
	{
		modelId: text("model_id")
			.notNull()
			.references(() => models.id),
		position: integer("position").notNull(),
		kind: text("kind", { enum: ["openai", "workers-ai"] }).notNull(),
		/** Base URL of an OpenAI-compatible API (ending before `/chat/completions`). */
		baseUrl: text("base_url"),
		/** The model name the upstream expects; defaults to the Modeldex model id. */
		upstreamModel: text("upstream_model"),
		/** Name of the Worker secret holding the upstream's API key, never the key itself. */
		apiKeySecret: text("api_key_secret"),
	},
	(t) => [primaryKey({ columns: [t.modelId, t.position] })],
);

/** One row per metered request; `request_id` makes a repeated flush a no-op. */
export const usage = sqliteTable(
	"usage",
	{
		requestId: text("request_id").primaryKey(),
		keyId: text("key_id").notNull(),
		payer: text("payer").notNull(),
		modelId: text("model_id").notNull(),
		promptTokens: integer("prompt_tokens").notNull(),
		completionTokens: integer("completion_tokens").notNull(),
		fee: baseUnits("fee").notNull(),
		status: text("status", { enum: ["ok", "error"] }).notNull(),
		/** Where the token counts came from: the upstream's `usage`, or our tokenizer when it sent none. */
		usageSource: text("usage_source", { enum: ["upstream", "counted", "none"] }).notNull(),
		createdAt: integer("created_at", { mode: "number" }).notNull(),
	},
	(t) => [index("usage_model_time").on(t.modelId, t.createdAt), index("usage_payer_time").on(t.payer, t.createdAt)],
);

/** Per model, payer and hour: what the usage chart and the settler's cross-checks read. */
export const usageHourly = sqliteTable(
	"usage_hourly",
	{
		modelId: text("model_id").notNull(),
		payer: text("payer").notNull(),
		/** Start of the hour, unix milliseconds. */
		hour: integer("hour").notNull(),
		requests: integer("requests").notNull(),
		errors: integer("errors").notNull(),
		promptTokens: integer("prompt_tokens").notNull(),
		completionTokens: integer("completion_tokens").notNull(),
		fees: baseUnits("fees").notNull(),
	},
	(t) => [primaryKey({ columns: [t.modelId, t.payer, t.hour] }), index("usage_hourly_model_hour").on(t.modelId, t.hour)],
);

/**
 * One-time nonces for Sign-In with Ethereum. A sign-in deletes its nonce in the
 * same statement that checks it, so a replayed message finds nothing.
 */
export const siweNonces = sqliteTable(
	"siwe_nonces",
	{
		nonce: text("nonce").primaryKey(),
		/** Unix milliseconds after which the nonce is refused (and may be swept). */
		expiresAt: integer("expires_at", { mode: "number" }).notNull(),
		createdAt: createdAt(),
	},
	(t) => [index("siwe_nonces_expires").on(t.expiresAt)],
);

// ── Chain index (workers/indexer) ───────────────────────────────────────────
// Every row written from a log is keyed by (chain id, tx hash, log index) and
// carries its block number, so a write is idempotent and a reorg can delete
// exactly what was written past the fork. Derived state (markets, holders) is
// recomputed from these rows for what a run touched, in both directions.

/** Where the indexer stopped on a chain: the last block fully applied. */
export const chainCursor = sqliteTable("chain_cursor", {
	chainId: integer("chain_id").primaryKey(),
	lastBlock: integer("last_block").notNull(),
	lastHash: text("last_hash").notNull(),
	updatedAt: integer("updated_at").notNull(),
});

/** Hashes of processed blocks (ends of ranges and blocks with logs), for reorg detection. */
export const chainBlocks = sqliteTable(
	"chain_blocks",
	{
		chainId: integer("chain_id").notNull(),
		number: integer("number").notNull(),
		hash: text("hash").notNull(),
	},
	(t) => [primaryKey({ columns: [t.chainId, t.number] })],
);

const logKey = () => ({
	chainId: integer("chain_id").notNull(),
	txHash: text("tx_hash").notNull(),
	logIndex: integer("log_index").notNull(),
	blockNumber: integer("block_number").notNull(),
	blockHash: text("block_hash").notNull(),
});

/** Every Modeldex log applied, decoded (args as JSON, integers as decimal strings). */
export const chainEvents = sqliteTable(
	"chain_events",
	{
		...logKey(),
		/** The emitting contract, lower-case. */
		address: text("address").notNull(),
		name: text("name").notNull(),
		args: text("args").notNull(),
	},
	(t) => [
		primaryKey({ columns: [t.chainId, t.txHash, t.logIndex] }),
		index("chain_events_block").on(t.chainId, t.blockNumber),
		index("chain_events_address_name").on(t.chainId, t.address, t.name, t.blockNumber),
	],
);

/** A model's market as indexed: IMO curve, pool, prices, revenue. Keyed by its ModelToken. */
export const modelMarkets = sqliteTable(
	"model_markets",
	{
		token: text("token").primaryKey(),
		chainId: integer("chain_id").notNull(),
		modelId: text("model_id").notNull(),
		sale: text("sale").notNull(),
		creator: text("creator").notNull(),
		/** The Uniswap V2 pair address (known from tokenize; funded at graduation). */
		pair: text("pair").notNull(),
		symbol: text("symbol").notNull(),
		name: text("name").notNull(),
		metadataUri: text("metadata_uri").notNull(),
		status: text("status", { enum: ["funding", "graduated"] }).notNull(),
		totalSupply: baseUnits("total_supply").notNull(),
		graduationThreshold: baseUnits("graduation_threshold").notNull(),
		initialVirtualPaca: baseUnits("initial_virtual_paca").notNull(),
		initialVirtualToken: baseUnits("initial_virtual_token").notNull(),
		virtualPaca: baseUnits("virtual_paca").notNull(),
		virtualToken: baseUnits("virtual_token").notNull(),
		/** PACA held by the curve: virtualPaca - initialVirtualPaca. */
		raised: baseUnits("raised").notNull(),
		/** PACA base units per 1e18 token base units. */
		price: baseUnits("price").notNull(),
		inputPricePerM: baseUnits("input_price_per_m").notNull(),
		outputPricePerM: baseUnits("output_price_per_m").notNull(),
		/** Cumulative fees settled to this model on chain (ModelSettled.cumulativeFees). */
		revenueSettled: baseUnits("revenue_settled").notNull(),
		holders: integer("holders").notNull(),
		/**
		 * ModelToken.shareSupply(): the supply revenue is shared over, the total supply less what the
		 * accounts the token excludes hold (the sale, the pair, the dead address, the token itself and
		 * the RevenueVault). Null only for a row indexed before this column, until the indexer's next run.
		 */
		shareSupply: baseUnits("share_supply"),
		tokenizedBlock: integer("tokenized_block").notNull(),
	},
	(t) => [index("model_markets_model").on(t.modelId)],
);

/** Deposits into RevenueVault and their credit to the payer's AccountLedger. */
export const deposits = sqliteTable(
	"deposits",
	{
		...logKey(),
		payer: text("payer").notNull(),
		sender: text("sender").notNull(),
		amount: baseUnits("amount").notNull(),
		/** The AccountLedger credit id (includes the block hash, so a re-included deposit is a new credit). */
		creditId: text("credit_id").notNull(),
		creditedAt: integer("credited_at"),
	},
	(t) => [
		primaryKey({ columns: [t.chainId, t.txHash, t.logIndex] }),
		index("deposits_payer").on(t.payer, t.blockNumber),
		index("deposits_uncredited").on(t.chainId, t.creditedAt),
	],
);

/**
 * Credits undone because their deposit left the chain in a reorg. The deposit's row is deleted
 * with the rollback; its log key, block and sender are kept here so the payer can still be shown
 * which deposit it was (null in rows recorded before they were kept).
 */
export const creditReversals = sqliteTable("credit_reversals", {
	creditId: text("credit_id").primaryKey(),
	chainId: integer("chain_id").notNull(),
	payer: text("payer").notNull(),
	amount: baseUnits("amount").notNull(),
	reversed: baseUnits("reversed").notNull(),
	/** What the payer had already spent of it and could not be taken back. */
	shortfall: baseUnits("shortfall").notNull(),
	txHash: text("tx_hash"),
	logIndex: integer("log_index"),
	blockNumber: integer("block_number"),
	sender: text("sender"),
	createdAt: createdAt(),
});

/** Bonding-curve trades (ModelSale.Trade). */
export const trades = sqliteTable(
	"trades",
	{
		...logKey(),
		token: text("token").notNull(),
		sale: text("sale").notNull(),
		trader: text("trader").notNull(),
		recipient: text("recipient").notNull(),
		isBuy: integer("is_buy", { mode: "boolean" }).notNull(),
		pacaAmount: baseUnits("paca_amount").notNull(),
		tokenAmount: baseUnits("token_amount").notNull(),
		fee: baseUnits("fee").notNull(),
		virtualPaca: baseUnits("virtual_paca").notNull(),
		virtualToken: baseUnits("virtual_token").notNull(),
	},
	(t) => [primaryKey({ columns: [t.chainId, t.txHash, t.logIndex] }), index("trades_token_block").on(t.token, t.blockNumber)],
);

/** ModelToken transfers: the source of holder balances. */
export const tokenTransfers = sqliteTable(
	"token_transfers",
	{
		...logKey(),
		token: text("token").notNull(),
		from: text("from_address").notNull(),
		to: text("to_address").notNull(),
		value: baseUnits("value").notNull(),
	},
	(t) => [
		primaryKey({ columns: [t.chainId, t.txHash, t.logIndex] }),
		index("token_transfers_from").on(t.token, t.from),
		index("token_transfers_to").on(t.token, t.to),
	],
);

/** Current balance per token and account, recomputed from transfers for the accounts a run touched. */
export const holders = sqliteTable(
	"holders",
	{
		token: text("token").notNull(),
		account: text("account").notNull(),
		balance: baseUnits("balance").notNull(),
		/** Zero-padded hex of the balance, so top holders sort in SQL without numeric money columns. */
		balanceKey: text("balance_key").notNull(),
	},
	(t) => [primaryKey({ columns: [t.token, t.account] }), index("holders_top").on(t.token, t.balanceKey)],
);

/** RevenueVault.Settled: one per epoch. */
export const settlements = sqliteTable(
	"settlements",
	{
		...logKey(),
		epoch: integer("epoch").notNull(),
		usageRoot: text("usage_root").notNull(),
		modelCount: integer("model_count").notNull(),
		totalFees: baseUnits("total_fees").notNull(),
		protocolFeeBps: integer("protocol_fee_bps").notNull(),
		creatorFeeBps: integer("creator_fee_bps").notNull(),
	},
	(t) => [primaryKey({ columns: [t.chainId, t.txHash, t.logIndex] }), index("settlements_epoch").on(t.chainId, t.epoch)],
);

/** RevenueVault.ModelSettled: per model and epoch. */
export const modelSettlements = sqliteTable(
	"model_settlements",
	{
		...logKey(),
		epoch: integer("epoch").notNull(),
		token: text("token").notNull(),
		cumulativeFees: baseUnits("cumulative_fees").notNull(),
		fees: baseUnits("fees").notNull(),
	},
	(t) => [primaryKey({ columns: [t.chainId, t.txHash, t.logIndex] }), index("model_settlements_token").on(t.token, t.epoch)],
);

/** ModelToken.Claimed. */
export const claims = sqliteTable(
	"claims",
	{
		...logKey(),
		token: text("token").notNull(),
		account: text("account").notNull(),
		amount: baseUnits("amount").notNull(),
	},
	(t) => [primaryKey({ columns: [t.chainId, t.txHash, t.logIndex] }), index("claims_account").on(t.account)],
);

/** RevenueVault.WithdrawalPaid. */
export const withdrawalPayments = sqliteTable(
	"withdrawal_payments",
	{
		...logKey(),
		withdrawalId: text("withdrawal_id").notNull(),
		payer: text("payer").notNull(),
		amount: baseUnits("amount").notNull(),
	},
	(t) => [primaryKey({ columns: [t.chainId, t.txHash, t.logIndex] }), index("withdrawal_payments_id").on(t.withdrawalId)],
);

// ── Settlement (workers/settler) ────────────────────────────────────────────

/**
 * The settler's state machine, one row per epoch: prepared (leaves, root and
 * cumulative fees fixed) → sent (signed transaction recorded before broadcast:
 * nonce and every hash sent, replacements included) → confirmed (receipt read
 * from the chain). `empty` closes an epoch that had no usage without a transaction.
 */
export const settlerEpochs = sqliteTable("settler_epochs", {
	chainId: integer("chain_id").notNull(),
	epoch: integer("epoch").primaryKey(),
	startMs: integer("start_ms").notNull(),
	endMs: integer("end_ms").notNull(),
	state: text("state", { enum: ["prepared", "sent", "confirmed", "empty"] }).notNull(),
	usageRoot: text("usage_root").notNull(),
	/** JSON: [{ modelId, token, fees, cumulativeFees }] with amounts as decimal strings. */
	models: text("models").notNull(),
	/** JSON: [{ modelId, reason, requests, fees }] of usage left out: reason "no_token" (not tokenized yet) or "not_registered" (not in the vault). */
	skipped: text("skipped").notNull(),
	nonce: integer("nonce"),
	/** JSON array of every transaction hash broadcast for this epoch (replacements included), oldest first. */
	txHashes: text("tx_hashes").notNull().default("[]"),
	maxFeePerGas: baseUnits("max_fee_per_gas"),
	maxPriorityFeePerGas: baseUnits("max_priority_fee_per_gas"),
	/** The latest signed transaction, rebroadcast as is if the node forgot it. */
	rawTx: text("raw_tx"),
	sentAt: integer("sent_at"),
	confirmedTx: text("confirmed_tx"),
	confirmedBlock: integer("confirmed_block"),
	gasUsed: integer("gas_used"),
	updatedAt: integer("updated_at").notNull(),
});

/** Which epoch each usage row was settled in; a row is assigned once, when its epoch is prepared. */
export const usageEpochs = sqliteTable(
	"usage_epochs",
	{
		requestId: text("request_id").primaryKey(),
		epoch: integer("epoch").notNull(),
	},
	(t) => [index("usage_epochs_epoch").on(t.epoch)],
);

/** The Merkle leaves of each epoch (one per payer and model), kept to serve proofs. */
export const usageLeaves = sqliteTable(
	"usage_leaves",
	{
		epoch: integer("epoch").notNull(),
		payer: text("payer").notNull(),
		token: text("token").notNull(),
		modelId: text("model_id").notNull(),
		inputTokens: integer("input_tokens").notNull(),
		outputTokens: integer("output_tokens").notNull(),
		fee: baseUnits("fee").notNull(),
	},
	(t) => [primaryKey({ columns: [t.epoch, t.payer, t.token] }), index("usage_leaves_payer").on(t.payer, t.epoch)],
);

/** Cumulative fees per model through the last prepared epoch: what the next settle carries. */
export const modelFeeTotals = sqliteTable("model_fee_totals", {
	modelId: text("model_id").primaryKey(),
	token: text("token").notNull(),
	cumulativeFees: baseUnits("cumulative_fees").notNull(),
	throughEpoch: integer("through_epoch").notNull(),
});

/**
 * Withdrawals of unused credit. Requested: the amount is locked in the payer's
 * AccountLedger (so it cannot be spent); the settler pays it with
 * RevenueVault.payWithdrawal(payer, amount, id), idempotent on chain per id.
 */
export const withdrawals = sqliteTable(
	"withdrawals",
	{
		/** bytes32 hex: the on-chain withdrawal id. */
		id: text("id").primaryKey(),
		payer: text("payer").notNull(),
		amount: baseUnits("amount").notNull(),
		/**
		 * requested → (the ledger lock found) sent → paid; refused when the ledger would not lock the
		 * amount, or (by the settler, through the ledger) when no lock of this amount came within 10 minutes.
		 */
		state: text("state", { enum: ["requested", "sent", "paid", "refused"] }).notNull(),
		nonce: integer("nonce"),
		/** The latest transaction sent for it (an earlier one at the same nonce may be the one mined). */
		txHash: text("tx_hash"),
		maxFeePerGas: baseUnits("max_fee_per_gas"),
		maxPriorityFeePerGas: baseUnits("max_priority_fee_per_gas"),
		/**
		 * The latest signed transaction (that of txHash), rebroadcast as is if a reorg dropped it and the node
		 * forgot it. Null for a row sent before migration 0003: such a payment is replaced once stale instead.
		 */
		rawTx: text("raw_tx"),
		sentAt: integer("sent_at"),
		requestedAt: integer("requested_at").notNull(),
		paidAt: integer("paid_at"),
	},
	(t) => [index("withdrawals_state").on(t.state, t.requestedAt), index("withdrawals_payer").on(t.payer)],
);

/**
 * One run at a time per cron job ("indexer:<chain>", "settler"): a run takes the
 * lease if it is free or expired and gives it back when done, so a run that
 * died holds it at most until `expires_at`.
 */
export const jobLeases = sqliteTable("job_leases", {
	name: text("name").primaryKey(),
	holder: text("holder").notNull(),
	expiresAt: integer("expires_at").notNull(),
});
