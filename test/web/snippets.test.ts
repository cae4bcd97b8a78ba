import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { callSnippets } from "../../web/src/snippets.ts";

// Model ids come from on-chain repo ids anyone can choose: each must reach the API
// as exactly itself, and nothing in it may run as code.
const BASE = "http://127.0.0.1:8787/v1";
const HOSTILE_IDS = [
	"acme/plain-model",
	`x'; echo broke out; echo '`,
	`x", "messages": [], "y": "`,
	'x"}); require("child_process").exec("id"); ("',
	"x\\u0027 $(id) `id` \\ back\\slash",
	"line\nbreak\ttab",
];

/** Runs the curl snippet in sh with a stand-in curl that prints its arguments as JSON. */
function curlArguments(snippet: string): string[] {
	const script = `curl() { node -e 'console.log(JSON.stringify(process.argv.slice(1)))' -- "$@"; }\nMODELDEX_API_KEY=k\n${snippet}`;
	return JSON.parse(execFileSync("sh", ["-c", script], { encoding: "utf8" })) as string[];
}

/** Runs the Node snippet with a stand-in OpenAI client; returns what it was asked. */
async function nodeRequest(snippet: string): Promise<{ baseURL: string; model: string }> {
	let seen: { baseURL: string; model: string } | null = null;
	class OpenAI {
		constructor(readonly options: { baseURL: string }) {}
		chat = {
			completions: {
				create: async (request: { model: string }) => {
					seen = { baseURL: this.options.baseURL, model: request.model };
					return { choices: [{ message: { content: "hi" } }] };
				},
			},
		};
	}
	const body = snippet.replace(/^import OpenAI from "openai";\n/, "");
	const AsyncFunction = (async () => {}).constructor as new (...args: string[]) => (...values: unknown[]) => Promise<void>;
	await new AsyncFunction("OpenAI", "process", "console", body)(OpenAI, { env: { MODELDEX_API_KEY: "k" } }, { log() {} });
	if (!seen) throw new Error("the snippet made no request");
	return seen;
}

describe("callSnippets", () => {
	it("puts any model id into the curl command as one JSON body naming exactly that model", () => {
		for (const id of HOSTILE_IDS) {
			const args = curlArguments(callSnippets(BASE, id).curl);
			expect(args[0], id).toBe(`${BASE}/chat/completions`);
			expect(args.length, id).toBe(7);
			expect(JSON.parse(args[6] ?? ""), id).toEqual({ model: id, messages: [{ role: "user", content: "Hello" }] });
		}
	});

	it("puts any model id into the Node snippet as a string literal of exactly that model", async () => {
		for (const id of HOSTILE_IDS) {
			expect(await nodeRequest(callSnippets(BASE, id).node), id).toEqual({ baseURL: BASE, model: id });
		}
	});
});
