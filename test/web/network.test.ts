import { describe, expect, it } from "vitest";
import { networkOf, readsWallet, showsReadFrom } from "../../web/src/data/network.ts";

// Whether the wallet's numbers may be shown: only those read on the deployment's chain
// (GET /v1/chain). The browser tests (wallet.test.ts) drive the banner; these pin the rule,
// including numbers read just before the wallet moved, which a browser hits only by timing.

const known = (chainId: number | null) => ({ state: "known" as const, chainId });

describe("the wallet's network against the deployment's", () => {
	it("is wrong on another chain, naming both", () => {
		const network = networkOf(1, known(31337));
		expect(network).toEqual({ kind: "wrong", wallet: 1, deployment: 31337 });
		expect(readsWallet(network)).toBe(false);
	});

	it("is not assumed right when GET /v1/chain failed, nor while it is being asked", () => {
		const failed = networkOf(31337, { state: "failed", error: new Error("down") });
		expect(failed.kind).toBe("failed");
		expect(readsWallet(failed)).toBe(false);
		expect(readsWallet(networkOf(31337, { state: "asking" }))).toBe(false);
	});

	it("checks nothing when the gateway names no chain", () => {
		const network = networkOf(8453, known(null));
		expect(network.kind).toBe("unchecked");
		expect(showsReadFrom(network, 8453)).toBe(true);
	});

	it("does not show numbers read on the chain the wallet has just left", () => {
		// Read on Base; the wallet is back on the deployment's chain before they arrived.
		const network = networkOf(31337, known(31337));
		expect(readsWallet(network)).toBe(true);
		expect(showsReadFrom(network, 8453)).toBe(false);
		expect(showsReadFrom(network, 31337)).toBe(true);
	});
});
