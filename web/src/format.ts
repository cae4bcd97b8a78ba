import { formatUnits, parseUnits } from "viem";

// Money is bigint base units end to end: the API sends decimal strings, the chain
// returns bigint, and both reach the screen through viem's string-based formatUnits.
// No amount is ever a JavaScript number.

export const PACA_DECIMALS = 18;

const group = (digits: string) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");

/**
 * A base-unit amount as a readable decimal, rounded down: `maxFraction` decimals for
 * amounts of 1 and more, four significant digits below 1 (fees per call are tiny).
 */
export function formatAmount(value: bigint | string, decimals = PACA_DECIMALS, maxFraction = 4): string {
	const amount = typeof value === "string" ? BigInt(value) : value;
	const negative = amount < 0n;
	const [whole = "0", fraction = ""] = formatUnits(negative ? -amount : amount, decimals).split(".");
	let shown: string;
	if (whole !== "0") {
		shown = fraction.slice(0, maxFraction);
	} else {
		const firstDigit = fraction.search(/[1-9]/);
		shown = firstDigit === -1 ? "" : fraction.slice(0, Math.max(maxFraction, firstDigit + 4));
	}
	shown = shown.replace(/0+$/, "");
	return `${negative ? "-" : ""}${group(whole)}${shown ? `.${shown}` : ""}`;
}

/** Every digit, for places where an exact amount matters (confirmations, tooltips). */
export function formatExact(value: bigint | string, decimals = PACA_DECIMALS): string {
	const [whole = "0", fraction] = formatUnits(typeof value === "string" ? BigInt(value) : value, decimals).split(".");
	return fraction ? `${group(whole)}.${fraction}` : group(whole);
}

/**
 * raised / threshold in tenths of a percent (0 to 1000), computed in bigint, and as
 * text: "<0.1" once anything is raised, so a started IMO never reads as 0 %.
 */
export function progress(raised: bigint, threshold: bigint): { tenths: number; text: string } {
	if (threshold <= 0n) return { tenths: 0, text: "0" };
	const exact = (raised * 1000n) / threshold;
	const tenths = Number(exact > 1000n ? 1000n : exact);
	if (tenths === 0 && raised > 0n) return { tenths, text: "<0.1" };
	return { tenths, text: `${Math.floor(tenths / 10)}.${tenths % 10}` };
}

const counts = new Intl.NumberFormat("en-US");
/** Counts (requests, tokens) are integers well inside a double's exact range. */
export const formatCount = (n: number) => counts.format(n);

export class InputProblem extends Error {}

/** A field's text read with `parse`: nothing typed is neither a value nor a problem; a refusal is its words. */
export function parseField<T>(text: string, parse: (text: string) => T): { value: T | null; problem: string | null } {
	if (text.trim() === "") return { value: null, problem: null };
	try {
		return { value: parse(text), problem: null };
	} catch (e) {
		return { value: null, problem: e instanceof InputProblem ? e.message : String(e) };
	}
}

/** What a person typed, as base units; throws an InputProblem in plain words. */
export function parseAmount(text: string, decimals = PACA_DECIMALS): bigint {
	const trimmed = text.trim();
	if (trimmed === "") throw new InputProblem("Enter an amount.");
	// No comma at all: "1,5" and "1,500" are a European 1.5 as often as a 15 or a 1500, and
	// reading them either way could spend ten or a thousand times what was meant.
	if (trimmed.includes(","))
		throw new InputProblem(`"${text}" has a comma. Write the amount without commas, with a dot for decimals, like 1500 or 1.5.`);
	if (!/^\d*\.?\d*$/.test(trimmed) || trimmed === ".")
		throw new InputProblem(`"${text}" is not a number. Use digits and one dot, like 12.5.`);
	const fraction = trimmed.split(".")[1] ?? "";
	if (fraction.length > decimals) throw new InputProblem(`At most ${decimals} digits after the dot.`);
	const amount = parseUnits(trimmed, decimals);
	if (amount === 0n) throw new InputProblem("Enter an amount above zero.");
	return amount;
}

/** The largest slippage the trade panel takes, in basis points (50 %). */
export const MAX_SLIPPAGE_BPS = 5000;

/**
 * A slippage typed in percent ("1.5") as basis points (150): 0.01 to 50, at most two
 * decimals, read digit by digit (no float rounding); throws an InputProblem in plain words.
 */
export function parseSlippage(text: string): number {
	const trimmed = text.trim();
	const range = "Enter a percent from 0.01 to 50, with a dot and at most two decimals, like 1.5.";
	if (trimmed === "" || trimmed === "." || !/^\d*\.?\d*$/.test(trimmed))
		throw new InputProblem(`"${text}" is not a slippage. ${range}`);
	const [whole = "", fraction = ""] = trimmed.split(".");
	if (fraction.length > 2) throw new InputProblem(`Slippage takes at most two decimals. ${range}`);
	// Past 50 whatever the digits; the length check keeps a long number out of Number().
	const wholeDigits = whole.replace(/^0+/, "");
	if (wholeDigits.length > 2) throw new InputProblem(`At most 50% slippage. ${range}`);
	const bps = Number(wholeDigits || "0") * 100 + Number(fraction.padEnd(2, "0"));
	if (bps === 0) throw new InputProblem(`Slippage must be above 0. ${range}`);
	if (bps > MAX_SLIPPAGE_BPS) throw new InputProblem(`At most 50% slippage. ${range}`);
	return bps;
}

export const shortAddress = (address: string) => `${address.slice(0, 6)}…${address.slice(-4)}`;
