import { describe, expect, it } from "vitest";
import { InputProblem, parseAmount } from "../../web/src/format.ts";

// Pure functions of the dashboard, in plain Node (no stack, no browser).

const PACA = 10n ** 18n;

describe("parseAmount", () => {
	it("reads dots as decimals and commas only as thousands separators", () => {
		expect(parseAmount("1.5")).toBe(15n * 10n ** 17n);
		expect(parseAmount("1,000")).toBe(1000n * PACA);
		expect(parseAmount(" 12,345,678.25 ")).toBe(1234567825n * 10n ** 16n);
	});

	it("refuses a decimal comma instead of reading 1,5 as 15", () => {
		for (const text of ["1,5", "0,5", "1,50", "12,3456", ",5", "1,000,00", "1,000.5,0"]) {
			expect(() => parseAmount(text), text).toThrow(InputProblem);
			expect(() => parseAmount(text), text).toThrow(/Use a dot for decimals/);
		}
	});
});
