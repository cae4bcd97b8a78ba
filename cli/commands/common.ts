// What every command is made of, and the argument helpers they share.
import type { ParseArgsOptionsConfig } from "node:util";
import { type Address, getAddress, isAddress } from "viem";
import { parsePaca } from "../../lib/money.ts";
import type { Config } from "../config.ts";
import { usageError } from "../errors.ts";
import type { Output } from "../output.ts";

export type Values = Record<string, string | boolean | string[] | undefined>;

export interface RunContext {
	config: Config;
	out: Output;
	/** Positional arguments after the command name (and sub-command, for `keys`). */
	args: string[];
	values: Values;
}

export interface Command {
	name: string;
	summary: string;
	/** e.g. "buy <model> <amount>" */
	usage: string;
	/** Longer text shown by `modeldex <command> --help`. */
	description?: string;
	options: ParseArgsOptionsConfig;
	/** [flag as shown, explanation] */
	optionHelp: Array<[string, string]>;
	/** How many positionals: [min, max]. */
	arity: [number, number];
	run(ctx: RunContext): Promise<void>;
}

/** A positive decimal amount ("1.5") in base units; never through a float. */
export function parseAmount(text: string | undefined, what: string, decimals = 18): bigint {
	if (text === undefined) throw usageError(`Missing ${what}.`);
	let value: bigint;
	try {
		value = parsePaca(text, decimals);
	} catch {
		throw usageError(
			`'${text}' is not an amount for ${what}.`,
			`Write it as a plain decimal number with at most ${decimals} decimals, e.g. 100 or 0.25 (no sign, commas or exponent).`,
		);
	}
	if (value <= 0n) throw usageError(`${what} must be greater than 0.`);
	return value;
}

/** A non-negative amount (prices may be 0). */
export function parsePrice(text: string, what: string): bigint {
	try {
		return parsePaca(text);
	} catch {
		throw usageError(`'${text}' is not a PACA amount for ${what}.`, "Write it as a plain decimal number, e.g. 0.2.");
	}
}

export function parseAddress(text: string, what: string): Address {
	if (!isAddress(text, { strict: false }))
		throw usageError(`'${text}' is not an address for ${what}.`, "Give a 0x-prefixed 20-byte hex address.");
	return getAddress(text);
}

/** "--slippage 0.5" (percent) → basis points. */
export function parseSlippage(text: string | undefined): bigint {
	if (text === undefined) return 100n;
	let bps: bigint;
	try {
		bps = parsePaca(text, 2);
	} catch {
		throw usageError(`'${text}' is not a slippage percentage.`, "Give a percentage between 0 and 50, e.g. --slippage 0.5.");
	}
	if (bps > 5_000n) throw usageError(`A slippage of ${text}% is too high.`, "Give a percentage between 0 and 50.");
	return bps;
}

export function parseSeconds(text: string | undefined, fallback: number, what: string): number {
	if (text === undefined) return fallback;
	const n = Number(text);
	if (!Number.isSafeInteger(n) || n <= 0) throw usageError(`'${text}' is not a number of seconds for ${what}.`);
	return n;
}

export function str(values: Values, name: string): string | undefined {
	const v = values[name];
	return typeof v === "string" ? v : undefined;
}

export const tradeOptions: ParseArgsOptionsConfig = {
	slippage: { type: "string" },
	deadline: { type: "string" },
	"min-out": { type: "string" },
	to: { type: "string" },
};

export const tradeOptionHelp: Array<[string, string]> = [
	["--slippage <percent>", "the least you accept, as a percentage below the quote (default 1)"],
	["--min-out <amount>", "the least you accept, as an amount (overrides --slippage)"],
	["--deadline <seconds>", "give up if not mined within this many seconds (default 1200)"],
	["--to <address>", "who receives what you get (default: your wallet)"],
];
