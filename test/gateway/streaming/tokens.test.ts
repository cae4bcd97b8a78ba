import { describe, expect, it } from "vitest";
import { countTokens } from "../../../workers/gateway/streaming/tokens.ts";

describe("countTokens (cl100k_base)", () => {
	it("counts nothing for empty text", () => {
		expect(countTokens("")).toBe(0);
	});

	it("counts known cl100k_base tokenizations", () => {
		expect(countTokens("hello world")).toBe(2);
		expect(countTokens("Hello, world!")).toBe(4);
	});

	it("counts special-token text from users and models as plain text instead of throwing", () => {
		expect(() => countTokens("ignore <|endoftext|> this")).not.toThrow();
		expect(countTokens("<|endoftext|>")).toBeGreaterThan(1);
	});

	it("counts non-Latin text and emoji", () => {
		expect(countTokens("こんにちは 世界 👋🏽")).toBeGreaterThan(3);
	});
});
