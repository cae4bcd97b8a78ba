import { describe, expect, it } from "vitest";
import { InputProblem, parseAmount, parseSlippage } from "../../web/src/format.ts";

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

describe("parseSlippage", () => {
	it("reads a percent as basis points, digit by digit", () => {
		expect(parseSlippage("2")).toBe(200);
		expect(parseSlippage(" 0.01 ")).toBe(1);
		expect(parseSlippage("1.5")).toBe(150);
		expect(parseSlippage("0.29")).toBe(29);
		expect(parseSlippage(".5")).toBe(50);
		expect(parseSlippage("50")).toBe(5000);
		expect(parseSlippage("050.00")).toBe(5000);
	});

	it("refuses anything else in words that give the range and the format", () => {
		for (const text of [
			"",
			"abc",
			"0",
			"0.00",
			"0.001",
			"1.234",
			"50.01",
			"60",
			"1e2",
			"-1",
			"1,5",
			".",
			"99999999999999999999",
		]) {
			expect(() => parseSlippage(text), text).toThrow(InputProblem);
			expect(() => parseSlippage(text), text).toThrow(/from 0\.01 to 50, with a dot and at most two decimals/);
		}
	});
});
