import { describe, expect, it } from "vitest";
import { countTokens, tokenCounter } from "../../../workers/gateway/streaming/tokens.ts";

describe("countTokens (cl100k_base)", () => {
	it("counts nothing for empty text", async () => {
		expect(await countTokens("")).toBe(0);
	});

	it("counts known cl100k_base tokenizations", async () => {
		expect(await countTokens("hello world")).toBe(2);
		expect(await countTokens("Hello, world!")).toBe(4);
	});

	it("counts special-token text from users and models as plain text instead of throwing", async () => {
		const count = await tokenCounter();
		expect(() => count("ignore <|endoftext|> this")).not.toThrow();
		expect(await countTokens("<|endoftext|>")).toBeGreaterThan(1);
	});

	it("counts non-Latin text and emoji", async () => {
		expect(await countTokens("こんにちは 世界 👋🏽")).toBeGreaterThan(3);
	});

	it("loads the tokenizer once, and the counter agrees with countTokens", async () => {
		const [a, b] = await Promise.all([tokenCounter(), tokenCounter()]);
		expect(a).toBe(b);
		expect(a("Hello, world!")).toBe(await countTokens("Hello, world!"));
	});
});
