// PACA amounts are bigint base units (18 decimals). Prices are per 1,000,000 tokens.

export const PACA_DECIMALS = 18;
export const TOKENS_PER_PRICE_UNIT = 1_000_000n;

export interface ModelPrices {
	inputPricePerM: bigint;
	outputPricePerM: bigint;
}

/**
 * Fee for one request: (prompt × input price + completion × output price) / 1M.
 * Rounding: one ceiling division over the summed numerator, so a request is never
 * charged less than its exact price and never more than one base unit above it.
 */
export function requestFee(prices: ModelPrices, promptTokens: number, completionTokens: number): bigint {
	if (!Number.isSafeInteger(promptTokens) || promptTokens < 0) throw new RangeError(`bad prompt token count ${promptTokens}`);
	if (!Number.isSafeInteger(completionTokens) || completionTokens < 0) {
		throw new RangeError(`bad completion token count ${completionTokens}`);
	}
	const numerator = BigInt(promptTokens) * prices.inputPricePerM + BigInt(completionTokens) * prices.outputPricePerM;
	return ceilDiv(numerator, TOKENS_PER_PRICE_UNIT);
}

export function ceilDiv(a: bigint, b: bigint): bigint {
	if (b <= 0n || a < 0n) throw new RangeError("ceilDiv takes a >= 0 and b > 0");
	return (a + b - 1n) / b;
}

/** Base units to a decimal string ("1.5" for 1.5e18) without passing through a float. */
export function formatPaca(amount: bigint, decimals = PACA_DECIMALS): string {
	const negative = amount < 0n;
	const abs = negative ? -amount : amount;
	const scale = 10n ** BigInt(decimals);
	const whole = abs / scale;
	const fraction = (abs % scale).toString().padStart(decimals, "0").replace(/0+$/, "");
	return `${negative ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""}`;
}

/** A decimal string ("1.5") to base units; rejects more fractional digits than the token has. */
export function parsePaca(text: string, decimals = PACA_DECIMALS): bigint {
	const match = /^(\d+)(?:\.(\d+))?$/.exec(text.trim());
	if (!match) throw new RangeError(`not a PACA amount: ${JSON.stringify(text)}`);
	const whole = match[1] ?? "0";
	const fraction = match[2] ?? "";
	if (fraction.length > decimals) throw new RangeError(`more than ${decimals} decimals: ${text}`);
	return BigInt(whole) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, "0") || "0");
}

const DEPOSIT_SOURCE_PREFIX = "deposit";

/**
 * The source a payer's credit is recorded with when the indexer credits a vault deposit.
 * Only such credit has PACA behind it in the vault's escrow, so only it can be withdrawn
 * (AccountLedger.withdrawable); admin and test credit is spendable through the API only.
 */
export function depositCreditSource(txHash: string, logIndex: number): string {
	return `${DEPOSIT_SOURCE_PREFIX} ${txHash}#${logIndex}`;
}

/** Whether a credit's source is a vault deposit (so PACA backs it in the vault's escrow). */
export function isDeposit(source: string): boolean {
	return source.startsWith(DEPOSIT_SOURCE_PREFIX);
}
