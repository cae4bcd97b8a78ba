import { describe, expect, it } from "vitest";
import { chatPromptText, completionText } from "../../workers/gateway/inference.ts";
import type { ChatCompletionRequest } from "../../workers/gateway/schemas/inference.ts";
import { tokenCounter } from "../../workers/gateway/streaming/tokens.ts";

// The tokenizer loads on first use; the expectations count synchronously.
const countTokens = await tokenCounter();

// What the gateway counts tokens from when an upstream reports no usage (the counted fallback).

const weatherCall = { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } };

describe("the counted fallback's texts", () => {
	it("counts a chat prompt's text, tool calls and tools, and not an image's base64", () => {
		const image = `data:image/png;base64,${"iVBORw0KGgo".repeat(20_000)}`; // ~220 KB
		const chat = {
			model: "m",
			messages: [
				{
					role: "user",
					content: [
						{ type: "text", text: "What is the weather where this photo was taken?" },
						{ type: "image_url", image_url: { url: image } },
					],
				},
				{ role: "assistant", content: null, tool_calls: [weatherCall] },
				{ role: "tool", tool_call_id: "call_1", content: "18°C and sunny" },
			],
			tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }],
		} as unknown as ChatCompletionRequest;
		const prompt = chatPromptText(chat);
		expect(prompt).toContain("What is the weather where this photo was taken?");
		expect(prompt).toContain('{"city":"Paris"}');
		expect(prompt).toContain("18°C and sunny");
		expect(prompt).toContain('"parameters"');
		expect(prompt).not.toContain("base64");
		expect(countTokens(prompt)).toBeLessThan(100);
	});

	it("counts an answer's tool calls, reasoning and refusal, not only its content", () => {
		const answer = {
			choices: [
				{
					index: 0,
					message: { role: "assistant", content: null, reasoning_content: "The user wants weather.", tool_calls: [weatherCall] },
				},
			],
		};
		const counted = completionText(answer);
		expect(counted).toContain("The user wants weather.");
		expect(counted).toContain("get_weather");
		expect(countTokens(counted)).toBeGreaterThan(5);
		expect(
			completionText({ choices: [{ message: { role: "assistant", content: null, refusal: "I can't help with that." } }] }),
		).toBe("I can't help with that.");
	});
});
