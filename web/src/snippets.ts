// The "Call it" snippets. A model id comes from an on-chain repo id anyone can choose,
// so it enters the code only as a quoted literal: a JSON string (also a valid JavaScript
// string), and inside the shell's single quotes with each ' written as '\''.

const shellQuote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

export function callSnippets(base: string, modelId: string): { curl: string; node: string } {
	const body = `{"model": ${JSON.stringify(modelId)}, "messages": [{"role": "user", "content": "Hello"}]}`;
	const curl = `curl ${shellQuote(`${base}/chat/completions`)} \\
  -H "Authorization: Bearer $MODELDEX_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d ${shellQuote(body)}`;
	const node = `import OpenAI from "openai";

const client = new OpenAI({ baseURL: ${JSON.stringify(base)}, apiKey: process.env.MODELDEX_API_KEY });
const reply = await client.chat.completions.create({
  model: ${JSON.stringify(modelId)},
  messages: [{ role: "user", content: "Hello" }],
});
console.log(reply.choices[0].message.content);`;
	return { curl, node };
}
