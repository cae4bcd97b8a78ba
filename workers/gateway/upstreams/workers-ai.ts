import type { UpstreamRecord } from "../../../lib/db/models.ts";
import type { Env } from "../env.ts";
import { UpstreamMisconfigured } from "./misconfigured.ts";
import type { UpstreamPath } from "./openai-compatible.ts";

// Workers AI through the `AI` binding. Its inputs and outputs are Workers AI's own
// format, so this adapter speaks OpenAI's on both sides: requests are mapped to
// `env.AI.run(model, inputs)` and results (streamed or not) back to OpenAI's
// chat.completion / text_completion / embeddings shapes.

interface WorkersAIText {
	response?: string | null;
	/** Function calling: `{name, arguments}` with arguments an object (older models), or OpenAI's own shape. */
	tool_calls?: Array<{ id?: string; name?: string; arguments?: unknown; function?: { name?: string; arguments?: unknown } }>;
	/** Models that answer in OpenAI's chat.completion shape already. */
	choices?: unknown[];
	usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number };
}

/** One event of a Workers AI stream: its own format, or (some models) OpenAI's chunk. */
interface WorkersAIStreamEvent extends Omit<WorkersAIText, "choices" | "tool_calls"> {
	tool_calls?: Array<
		(NonNullable<WorkersAIText["tool_calls"]>[number] & { index?: number; id?: string | null; name?: string | null }) | null
	>;
	choices?: Array<{ index?: number; finish_reason?: string | null; delta?: { role?: string; tool_calls?: unknown[] } } | null>;
	finish_reason?: string | null;
}

interface WorkersAIEmbedding {
	data?: number[][];
	usage?: { prompt_tokens?: number };
}

export async function callWorkersAI(
	env: Env,
	upstream: UpstreamRecord,
	path: UpstreamPath,
	body: Record<string, unknown>,
	signal: AbortSignal,
): Promise<Response> {
	// WORKERS_AI_BINDING names the binding to use (default AI); the tests point it at a
	// stand-in Worker, since Workers AI cannot run offline.
	const bindingName = env.WORKERS_AI_BINDING ?? "AI";
	const ai = (env as unknown as Record<string, Ai | undefined>)[bindingName];
	if (!ai) throw new UpstreamMisconfigured(`Workers AI is not bound to the gateway (binding ${bindingName})`);
	const model = upstream.upstreamModel;
	if (!model) throw new UpstreamMisconfigured("it names no Workers AI model");
	// The binding takes no AbortSignal across RPC, so giving up is a race with the signal.
	const run = (inputs: Record<string, unknown>) =>
		Promise.race([
			(ai.run as (m: string, i: Record<string, unknown>) => Promise<unknown>)(model, inputs),
			new Promise<never>((_, reject) => {
				if (signal.aborted) reject(signal.reason);
				signal.addEventListener("abort", () => reject(signal.reason), { once: true });
			}),
		]);
	const id = `${path === "/embeddings" ? "emb" : "chatcmpl"}-${crypto.randomUUID().replace(/-/g, "")}`;
	const created = Math.floor(Date.now() / 1000);

	if (path === "/embeddings") {
		const input = body.input;
		const text = Array.isArray(input) ? input.map(String) : [String(input ?? "")];
		const result = (await run({ text })) as WorkersAIEmbedding;
		const tokens = result.usage?.prompt_tokens;
		return Response.json({
			object: "list",
			model: body.model,
			data: (result.data ?? []).map((embedding, index) => ({ object: "embedding", index, embedding })),
			...(tokens === undefined ? {} : { usage: { prompt_tokens: tokens, total_tokens: tokens } }),
		});
	}

	const chat = path === "/chat/completions";
	const inputs: Record<string, unknown> = chat ? { messages: body.messages } : { prompt: body.prompt };
	for (const [from, to] of [
		["max_tokens", "max_tokens"],
		["max_completion_tokens", "max_tokens"],
		["temperature", "temperature"],
		["top_p", "top_p"],
		["seed", "seed"],
		["frequency_penalty", "frequency_penalty"],
		["presence_penalty", "presence_penalty"],
		["tools", "tools"],
	] as const) {
		if (body[from] !== undefined && body[from] !== null) inputs[to] = body[from];
	}

	if (!body.stream) {
		const result = (await run(inputs)) as WorkersAIText;
		const object = chat ? "chat.completion" : "text_completion";
		const usage = result.usage ? { usage: openAIUsage(result.usage) } : {};
		if (Array.isArray(result.choices)) {
			return Response.json({ id, created, ...result, object, model: body.model, ...usage });
		}
		const text = result.response ?? "";
		const toolCalls = chat ? (result.tool_calls ?? []).map(openAIToolCall) : [];
		return Response.json({
			id,
			object,
			created,
			model: body.model,
			choices: [
				chat
					? {
							index: 0,
							message: {
								role: "assistant",
								content: toolCalls.length > 0 && text === "" ? null : text,
								...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
							},
							finish_reason: toolCalls.length > 0 ? "tool_calls" : "stop",
							logprobs: null,
						}
					: { index: 0, text, finish_reason: "stop", logprobs: null },
			],
			...usage,
		});
	}

	const stream = (await run({ ...inputs, stream: true })) as ReadableStream<Uint8Array>;
	const chunk = (extra: Record<string, unknown>) =>
		`data: ${JSON.stringify({ id, object: chat ? "chat.completion.chunk" : "text_completion", created, model: body.model, ...extra })}\n\n`;
	const encoder = new TextEncoder();
	const decoder = new TextDecoder();
	let buffer = "";
	let usage: WorkersAIText["usage"];
	/** The assistant role goes with the first delta, as in OpenAI's streams (the SDKs' stream helpers require it). */
	let role: { role?: "assistant" } = chat ? { role: "assistant" } : {};
	/** Tool calls begun, by index: the first delta of each carries its id, type and name. */
	const toolCalls = new ToolCallIndexes();
	/** The model's own finish reason, if it gave one (natively or in OpenAI's chunks). */
	let finishReason: string | null = null;
	/** The model streamed OpenAI's chunks, finish reason included: nothing to add at the end. */
	let finishSent = false;
	/** Workers AI ends a whole stream with [DONE]; without it (and no finish reason) the stream was cut off. */
	let done = false;
	/** Choices of OpenAI-shaped chunks that have had their first delta (which gets the role if it lacks one). */
	const begunChoices = new Set<unknown>();
	const translate = (line: string, controller: TransformStreamDefaultController<Uint8Array>) => {
		if (!line.startsWith("data:")) return;
		const data = line.slice(5).trim();
		if (data === "[DONE]") done = true;
		if (data === "[DONE]" || data === "") return;
		const event = JSON.parse(data) as WorkersAIStreamEvent;
		if (event.usage) usage = event.usage;
		if (Array.isArray(event.choices)) {
			// Models that stream OpenAI's chunks (content, reasoning, tool calls, finish reason):
			// their choices go through under the gateway's id and model name; usage comes at the end.
			if (event.choices.length === 0) return;
			const choices = event.choices.map((choice) => {
				if (choice?.finish_reason != null) finishSent = true;
				const delta = choice?.delta;
				if (!chat || !choice || typeof delta !== "object" || delta === null) return choice;
				if (Array.isArray(delta.tool_calls) && delta.tool_calls.length > 0) toolCalls.sawAny = true;
				if (begunChoices.has(choice.index ?? 0)) return choice;
				begunChoices.add(choice.index ?? 0);
				return delta.role ? choice : { ...choice, delta: { role: "assistant", ...delta } };
			});
			role = {};
			controller.enqueue(encoder.encode(chunk({ choices })));
			return;
		}
		if (typeof event.finish_reason === "string" && event.finish_reason) finishReason = event.finish_reason;
		const calls = chat ? toolCallDeltas(event.tool_calls, toolCalls) : [];
		if (!event.response && calls.length === 0) return;
		const choice = chat
			? {
					index: 0,
					delta: {
						...role,
						...(event.response ? { content: event.response } : {}),
						...(calls.length > 0 ? { tool_calls: calls } : {}),
					},
					finish_reason: null,
				}
			: { index: 0, text: event.response, finish_reason: null };
		role = {};
		controller.enqueue(encoder.encode(chunk({ choices: [choice] })));
	};
	// Once AI.run has returned the stream, nothing else listens to the signal: the stream
	// itself fails when the attempt is aborted (first-byte or total timeout, or the client
	// left), so a stalled stream ends instead of hanging (a pipe cancels AI's stream then).
	let translator: TransformStreamDefaultController<Uint8Array> | undefined;
	const abort = () => translator?.error(signal.reason);
	const body$ = stream.pipeThrough(
		new TransformStream<Uint8Array, Uint8Array>({
			start(controller) {
				translator = controller;
				if (signal.aborted) abort();
				else signal.addEventListener("abort", abort, { once: true });
			},
			transform(bytes, controller) {
				buffer += decoder.decode(bytes, { stream: true });
				let newline = buffer.indexOf("\n");
				while (newline >= 0) {
					translate(buffer.slice(0, newline).trimEnd(), controller);
					buffer = buffer.slice(newline + 1);
					newline = buffer.indexOf("\n");
				}
			},
			flush(controller) {
				signal.removeEventListener("abort", abort);
				translate(buffer.trimEnd(), controller);
				// Cut off: no finish, usage or [DONE], so the stream meter sees an incomplete answer
				// (an error event for the client, a charge for what was delivered).
				if (!done && !finishSent && finishReason === null) return;
				if (!finishSent) {
					const reason = finishReason ?? (toolCalls.sawAny ? "tool_calls" : "stop");
					// An answer with no delta before this one still tells the client its role.
					const finish = chat
						? { index: 0, delta: { ...role }, finish_reason: reason }
						: { index: 0, text: "", finish_reason: reason };
					controller.enqueue(encoder.encode(chunk({ choices: [finish] })));
				}
				if (usage) controller.enqueue(encoder.encode(chunk({ choices: [], usage: openAIUsage(usage) })));
				controller.enqueue(encoder.encode("data: [DONE]\n\n"));
			},
		}),
	);
	return new Response(body$, { headers: { "content-type": "text/event-stream" } });
}

function openAIUsage(usage: NonNullable<WorkersAIText["usage"]>) {
	const prompt = usage.prompt_tokens ?? 0;
	const completion = usage.completion_tokens ?? 0;
	return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: usage.total_tokens ?? prompt + completion };
}

/**
 * A streamed event's tool calls as OpenAI's `delta.tool_calls`. Workers AI streams a call as
 * its id, type and name first, then its arguments in pieces, then a finalizing entry with
 * everything null (skipped); older models send the whole call at once, arguments as an
 * object. OpenAI's first delta of a call carries its index, id, type and name, the later
 * ones its index and more arguments.
 */
function toolCallDeltas(calls: WorkersAIStreamEvent["tool_calls"], begun: ToolCallIndexes) {
	const deltas: Array<Record<string, unknown>> = [];
	for (const call of calls ?? []) {
		if (typeof call !== "object" || call === null) continue;
		const fn = call.function ?? call;
		const name = typeof fn.name === "string" && fn.name !== "" ? fn.name : null;
		const args =
			fn.arguments === undefined || fn.arguments === null || fn.arguments === ""
				? null
				: typeof fn.arguments === "string"
					? fn.arguments
					: JSON.stringify(fn.arguments);
		if (!call.id && name === null && args === null) continue; // the finalizing entry
		// Without an index, an entry naming a call (an id or a name) starts the next one, and
		// arguments alone continue the last.
		const index =
			typeof call.index === "number" ? call.index : call.id || name !== null ? begun.next() : (begun.last ?? begun.next());
		if (begun.has(index)) {
			if (args !== null) deltas.push({ index, function: { arguments: args } });
			continue;
		}
		begun.add(index);
		deltas.push({ index, ...openAIToolCall({ ...call, function: { name: name ?? "", arguments: args ?? "" } }) });
	}
	return deltas;
}

/** The tool calls a stream has begun, by OpenAI index. */
class ToolCallIndexes {
	private readonly begun = new Set<number>();
	/** The stream had a tool call (native or in OpenAI's chunks): the default finish reason is tool_calls. */
	sawAny = false;
	last: number | null = null;

	has(index: number): boolean {
		return this.begun.has(index);
	}

	add(index: number): void {
		this.begun.add(index);
		this.last = index;
		this.sawAny = true;
	}

	/** The index after every one begun. */
	next(): number {
		return this.begun.size === 0 ? 0 : Math.max(...this.begun) + 1;
	}
}

/** A Workers AI tool call in OpenAI's shape: an id, and the arguments as a JSON string. */
function openAIToolCall(call: NonNullable<WorkersAIText["tool_calls"]>[number]) {
	const fn = call.function ?? call;
	const args = fn.arguments ?? {};
	return {
		id: call.id ?? `call_${crypto.randomUUID().replace(/-/g, "").slice(0, 24)}`,
		type: "function",
		function: { name: fn.name ?? "", arguments: typeof args === "string" ? args : JSON.stringify(args) },
	};
}
