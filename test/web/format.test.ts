import { describe, expect, it } from "vitest";
import { InputProblem, parseAmount } from "../../web/src/format.ts";

// Pure functions of the dashboard, in plain Node (no stack, no browser).

const PACA = 10n ** 18n;

describe("parseAmount", () => {
	it("reads dots as decimals", () => {
		expect(parseAmount("1.5")).toBe(15n * 10n ** 17n);
		expect(parseAmount(" 1000 ")).toBe(1000n * PACA);
	});

	it("refuses any comma: in 1,5 or 1,500 it may be a decimal comma, read as 15 or 1500", () => {
		for (const text of ["1,5", "0,5", "1,50", "1,500", "1,000", "12,345,678.25", ",5", "1,000.5,0"]) {
			expect(() => parseAmount(text), text).toThrow(InputProblem);
			expect(() => parseAmount(text), text).toThrow(/without commas/);
		}
	});
});
