import { describe, expect, it } from "vitest";
import { type Deposit, depositBadge, latestDeposits } from "../../web/src/data/api.ts";

describe("latestDeposits", () => {
	it("keeps the newest deposits, waiting one included, when the API sends more than five newest first", () => {
		// As GET /v1/account/deposits sends them: by block, newest first.
		const deposits: Deposit[] = [107, 106, 105, 104, 103, 102, 101].map((block) => ({
			tx_hash: `0x${block}`,
			block_number: block,
			amount: "1000000000000000000",
			credited: block !== 107,
		}));
		const shown = latestDeposits(deposits);
		expect(shown.map((d) => d.block_number)).toEqual([107, 106, 105, 104, 103]);
		expect(shown[0]?.credited).toBe(false);
	});
});

describe("depositBadge", () => {
	const deposit: Deposit = { tx_hash: "0x1", block_number: 1, amount: "1000000000000000000", credited: true };
	it("marks a deposit a reorg reversed as reversed, neither credited nor waiting for confirmations", () => {
		const reversal = { reversed: "1000000000000000000", shortfall: "0" };
		expect(depositBadge({ ...deposit, credited: false, status: "reversed", reversal })).toEqual({
			tone: "bad",
			label: "reversed by a chain reorg",
		});
		expect(depositBadge({ ...deposit, status: "credited" })).toEqual({ tone: "ok", label: "credited" });
		expect(depositBadge({ ...deposit, credited: false, status: "pending" })).toEqual({
			tone: "warn",
			label: "waiting for confirmations",
		});
		// A gateway from before `status`.
		expect(depositBadge({ ...deposit, credited: false })).toEqual({ tone: "warn", label: "waiting for confirmations" });
	});
});
