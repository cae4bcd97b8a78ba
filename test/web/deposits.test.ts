import { describe, expect, it } from "vitest";
import { type Deposit, latestDeposits } from "../../web/src/data/api.ts";

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
