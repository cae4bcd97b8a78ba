import type { Address } from "viem";
import type { LogKey, Statement } from "../../../lib/db/chain.ts";
import type { Db } from "../../../lib/db/client.ts";

/** A decoded log of a Modeldex contract. */
export interface ChainLog<Args = Record<string, unknown>> {
	key: LogKey;
	/** The emitting contract, lower-case. */
	address: Address;
	name: string;
	args: Args;
}

/** What a batch of logs changed, so derived state is recomputed for exactly that. */
export interface Touched {
	tokens: Set<string>;
	/** `${token}|${account}` pairs whose balance changed. */
	holders: Set<string>;
}

export interface ApplyContext {
	db: Db;
	touched: Touched;
	/** Token of a known sale (lower-case), for events the sale emits. */
	tokenOfSale(sale: string): string | undefined;
	/** Token of a known Uniswap V2 pair (lower-case), for the pool's events. */
	tokenOfPair(pair: string): string | undefined;
}

/** Turns one log into the D1 writes it implies; every write is idempotent by (chain, tx hash, log index). */
export type EventHandler = (ctx: ApplyContext, log: ChainLog) => Statement[];

export const lower = (value: unknown): string => String(value).toLowerCase();
export const big = (value: unknown): bigint => BigInt(value as bigint);
