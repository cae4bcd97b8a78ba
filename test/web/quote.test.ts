import { describe, expect, it } from "vitest";
import { type Quote, quoteToTrade } from "../../web/src/data/chain.ts";

// The trade panel keeps the last quote while the next one loads; the one it trades on
// (minOut, the confirmation, the enabled button) must be for what is on screen now.

const TOKEN = `0x${"aa".repeat(20)}` as const;
const OTHER_TOKEN = `0x${"bb".repeat(20)}` as const;
const PACA = 10n ** 18n;
const quoted: Quote = {
	chainId: 31337,
	token: TOKEN,
	side: "buy",
	amount: 10n * PACA,
	state: 1,
	out: 5_000n * PACA,
	paid: 10n * PACA,
	fee: PACA / 10n,
};

describe("quoteToTrade", () => {
	it("trades on a loaded quote for exactly the token, side and amount on screen", () => {
		expect(quoteToTrade({ data: quoted, loading: false }, TOKEN, "buy", 10n * PACA)).toBe(quoted);
	});

	it("trades on nothing while the quote for a new amount loads", () => {
		// Typed 100 after 10, Enter at once: minOut must not come from the 10 PACA quote.
		expect(quoteToTrade({ data: quoted, loading: true }, TOKEN, "buy", 100n * PACA)).toBeNull();
		expect(quoteToTrade({ data: quoted, loading: false }, TOKEN, "buy", 100n * PACA)).toBeNull();
	});

	it("trades on nothing after a switch of side or token until their own quote is in", () => {
		// A buy quote's out is in tokens; as a sell's minOut it would be in PACA.
		expect(quoteToTrade({ data: quoted, loading: true }, TOKEN, "sell", 10n * PACA)).toBeNull();
		expect(quoteToTrade({ data: quoted, loading: false }, TOKEN, "sell", 10n * PACA)).toBeNull();
		expect(quoteToTrade({ data: quoted, loading: false }, OTHER_TOKEN, "buy", 10n * PACA)).toBeNull();
	});

	it("trades on nothing while the same inputs are quoted again, or with no amount", () => {
		expect(quoteToTrade({ data: quoted, loading: true }, TOKEN, "buy", 10n * PACA)).toBeNull();
		expect(quoteToTrade({ data: quoted, loading: false }, TOKEN, "buy", null)).toBeNull();
		expect(quoteToTrade({ data: null, loading: false }, TOKEN, "buy", 10n * PACA)).toBeNull();
	});
});
