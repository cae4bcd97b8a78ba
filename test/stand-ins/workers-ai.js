// STAND-IN FOR WORKERS AI, used only by tests. Workers AI cannot run offline, so
// the tests bind this Worker as `AI`: its `run(model, inputs)` answers in Workers
// AI's own output format (not OpenAI's), so the gateway's adapter is exercised.
// It echoes a fixed sentence and reports usage, counting one token per word.
// Model-name suffixes make it misbehave on purpose: ":fail" throws; ":slow" takes
// SLOW_MS to answer a non-stream run (as a model generating a long answer does);
// ":silent-stream" returns a stream that never sends anything; ":stall" streams three
// words, then nothing for a minute (the gateway's timeouts must give up on them first);
// ":cut" streams three words and ends, without a finish or [DONE] (a connection cut off);
// ":tools" answers with a function call (streamed in pieces, as current models stream
// them), ":tools-whole" streams it in one event with its arguments as an object (as older
// models do), ":openai-shaped" answers in OpenAI's chat.completion shape, or streams
// OpenAI's chunks with reasoning before the answer (as some Workers AI models do).
import { WorkerEntrypoint } from "cloudflare:workers";

const REPLY = "Workers AI stand-in reply for tests only";
const SLOW_MS = 1_000;
const STALL_MS = 60_000;
const words = (text) => text.split(/\s+/).filter(Boolean).length;

export class WorkersAIStandIn extends WorkerEntrypoint {
	async run(model, inputs) {
		if (model.endsWith(":fail")) throw new Error("AiError: 5007: stand-in failure");
		if (model.endsWith(":slow-fail")) {
			await new Promise((resolve) => setTimeout(resolve, SLOW_MS));
			throw new Error("AiError: 3040: stand-in failure after a while");
		}
		if (inputs.text !== undefined) {
			const texts = Array.isArray(inputs.text) ? inputs.text : [inputs.text];
			return {
				shape: [texts.length, 4],
				data: texts.map((t) => [t.length, words(t), 0.5, -0.5]),
				pooling: "mean",
			};
		}
		const prompt = inputs.messages ? inputs.messages.map((m) => m.content).join(" ") : String(inputs.prompt ?? "");
		const out = REPLY.split(" ").slice(0, inputs.max_tokens ?? 256);
		const usage = { prompt_tokens: words(prompt), completion_tokens: out.length, total_tokens: words(prompt) + out.length };
		if (!inputs.stream) {
			if (model.endsWith(":slow")) await new Promise((resolve) => setTimeout(resolve, SLOW_MS));
			if (model.endsWith(":tools")) {
				// Workers AI's function calling: arguments as an object, no id.
				const name = inputs.tools?.[0]?.function?.name ?? inputs.tools?.[0]?.name ?? "tool";
				return { response: null, tool_calls: [{ name, arguments: { city: "Paris" } }], usage };
			}
			if (model.endsWith(":openai-shaped")) {
				// Some models answer in OpenAI's chat.completion shape themselves.
				return {
					id: "chatcmpl-standin",
					object: "chat.completion",
					created: 1,
					model,
					choices: [{ index: 0, message: { role: "assistant", content: out.join(" ") }, finish_reason: "stop" }],
					usage,
				};
			}
			return { response: out.join(" "), usage };
		}
		const encoder = new TextEncoder();
		// A pending timer, not a stream that waits on nothing: workerd cancels a request that
		// waits on nothing as hung, which a real Workers AI stream waiting on the network is not.
		const stallThenFail = (controller) =>
			setTimeout(() => controller.error(new Error("stand-in stalled stream gave up")), STALL_MS);
		if (model.endsWith(":silent-stream")) return new ReadableStream({ start: stallThenFail });
		const name = inputs.tools?.[0]?.function?.name ?? inputs.tools?.[0]?.name ?? "tool";
		const events = (list) =>
			new ReadableStream({
				start(controller) {
					for (const event of list) controller.enqueue(encoder.encode(`data: ${JSON.stringify(event)}\n\n`));
					controller.enqueue(encoder.encode("data: [DONE]\n\n"));
					controller.close();
				},
			});
		if (model.endsWith(":tools")) {
			// Workers AI's streamed function call: the call's id and name first, then the
			// arguments in pieces, then a finalizing entry with everything null.
			return events([
				{ response: "", tool_calls: [{ id: "chatcmpl-tool-7f3a", type: "function", index: 0, function: { name } }] },
				{ response: "", tool_calls: [{ index: 0, function: { arguments: '{"city": ' } }] },
				{ response: "", tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] },
				{ response: "", tool_calls: [{ id: null, type: null, index: 0, function: { name: null, arguments: null } }] },
				{ response: "", usage: { ...usage, completion_tokens: 6, total_tokens: usage.prompt_tokens + 6 } },
			]);
		}
		if (model.endsWith(":tools-whole")) {
			return events([
				{ response: "", tool_calls: [{ name, arguments: { city: "Paris" } }] },
				{ response: "", usage: { ...usage, completion_tokens: 6, total_tokens: usage.prompt_tokens + 6 } },
			]);
		}
		if (model.endsWith(":openai-shaped")) {
			const chunk = (choices, extra = {}) => ({
				id: "chatcmpl-standin",
				object: "chat.completion.chunk",
				created: 1,
				model,
				choices,
				...extra,
			});
			return events([
				chunk([{ index: 0, delta: { role: "assistant", reasoning_content: "Thinking it over." }, finish_reason: null }]),
				...out.map((w, i) => chunk([{ index: 0, delta: { content: i === 0 ? w : ` ${w}` }, finish_reason: null }])),
				chunk([{ index: 0, delta: {}, finish_reason: "length" }]),
				chunk([], { usage }),
			]);
		}
		return new ReadableStream({
			start(controller) {
				for (const [i, w] of out.entries()) {
					if (model.endsWith(":stall") && i === 3) return stallThenFail(controller);
					if (model.endsWith(":cut") && i === 3) return controller.close();
					controller.enqueue(encoder.encode(`data: ${JSON.stringify({ response: i === 0 ? w : ` ${w}`, p: "abc" })}\n\n`));
				}
				controller.enqueue(encoder.encode(`data: ${JSON.stringify({ response: "", usage })}\n\n`));
				controller.enqueue(encoder.encode("data: [DONE]\n\n"));
				controller.close();
			},
		});
	}
}

export default {
	fetch() {
		return new Response("Workers AI stand-in (tests only)");
	},
};
