import { modelFactoryAbi, modelSaleAbi, modelTokenAbi, revenueVaultAbi, uniswapV2PairAbi } from "../../../lib/chain/abis.ts";
import { onClaimed } from "./claimed.ts";
import { onDeposited } from "./deposited.ts";
import { onGraduated } from "./graduated.ts";
import { onModelSettled } from "./model-settled.ts";
import { onModelTokenized } from "./model-tokenized.ts";
import { onPricingUpdated } from "./pricing-updated.ts";
import { onSettled } from "./settled.ts";
import { onSync } from "./sync.ts";
import { onTrade } from "./trade.ts";
import { onTransfer } from "./transfer.ts";
import type { EventHandler } from "./types.ts";
import { onWithdrawalPaid } from "./withdrawal-paid.ts";

// Which events the indexer applies, per kind of emitting contract. A log whose
// event is not listed here is ignored (role changes, approvals, fee claims...).
export const CONTRACTS = {
	factory: { abi: modelFactoryAbi, handlers: { ModelTokenized: onModelTokenized, PricingUpdated: onPricingUpdated } },
	vault: {
		abi: revenueVaultAbi,
		handlers: { Deposited: onDeposited, Settled: onSettled, ModelSettled: onModelSettled, WithdrawalPaid: onWithdrawalPaid },
	},
	sale: { abi: modelSaleAbi, handlers: { Trade: onTrade, Graduated: onGraduated } },
	token: { abi: modelTokenAbi, handlers: { Transfer: onTransfer, Claimed: onClaimed } },
	pair: { abi: uniswapV2PairAbi, handlers: { Sync: onSync } },
} satisfies Record<string, { abi: readonly unknown[]; handlers: Record<string, EventHandler> }>;

export type ContractKind = keyof typeof CONTRACTS;

/** Each applied event's handler by event name (the names are distinct across contract kinds). */
export const HANDLERS: Record<string, EventHandler> = Object.assign(
	{},
	...Object.values(CONTRACTS).map((c) => c.handlers as Record<string, EventHandler>),
);
