// DEVELOPMENT STAND-IN, NOT A MODEL. A local HTTP server that speaks the OpenAI
// wire format so the gateway has something to call offline (tests, `npm start`,
// benchmarks). It echoes words back at a configurable pace and reports usage,
// counting one token per whitespace-separated word.
//
// Test hooks: the model name's suffix picks a behaviour (see `behaviour()`), and
// GET /__requests lists the bodies received (DELETE clears them).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface StandInOptions {
	port?: number;
	host?: string;
	/** Delay between streamed tokens. */
	tokenDelayMs?: number;
	/** Fixed service time added before answering (benchmarks). */
	serviceTimeMs?: number;
}

export interface StandInUpstream {
	url: string;
	server: Server;
	close(): Promise<void>;
}

interface Received {
	path: string;
	headers: Record<string, string | string[] | undefined>;
	body: unknown;
	/** The gateway closed the connection before the answer was complete (it aborted the request). */
	abandoned: boolean;
}

/** How long ":slow-answer" takes to send a non-stream answer (headers included). */
export const SLOW_ANSWER_MS = 1_000;

const REPLY = "This reply comes from the Modeldex development stand-in upstream, not from a model.";

export async function startStandInUpstream(options: StandInOptions = {}): Promise<StandInUpstream> {
	const received: Received[] = [];
	const tokenDelayMs = options.tokenDelayMs ?? 0;
	const serviceTimeMs = options.serviceTimeMs ?? 0;

	const server = createServer(async (req, res) => {
		try {
			await handle(req, res);
		} catch (err) {
			if (!res.headersSent)
				sendJson(res, 500, { error: { message: String(err), type: "server_error", code: null, param: null } });
			else res.destroy();
		}
	});
	server.keepAliveTimeout = 60_000;

	async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
		const path = (req.url ?? "/").split("?")[0] ?? "/";
		if (path === "/__requests") {
			if (req.method === "DELETE") received.length = 0;
			return sendJson(res, 200, received);
		}
		if (req.method === "GET" && path === "/v1/models") {
			return sendJson(res, 200, { object: "list", data: [{ id: "stand-in", object: "model", owned_by: "modeldex-dev" }] });
		}
		if (req.method !== "POST") return sendJson(res, 404, { error: { message: "not found", type: "invalid_request_error" } });

		const raw = await readBody(req);
		let body: Record<string, unknown>;
		try {
			body = JSON.parse(raw) as Record<string, unknown>;
		} catch {
			return sendJson(res, 400, { error: { message: "bad json", type: "invalid_request_error" } });
		}
		const seen: Received = { path, headers: req.headers, body, abandoned: false };
		received.push(seen);
		res.on("close", () => {
			seen.abandoned = !res.writableFinished;
		});
		if (serviceTimeMs > 0) await sleep(serviceTimeMs);

		const model = String(body.model ?? "stand-in");
		const mode = behaviour(model);
		if (mode === "http-error") return httpError(res, Number(model.slice(-3)));
		if (mode === "hang") {
			// Never answers; the gateway's timeouts must give up on it.
			await new Promise<void>((resolve) => res.on("close", () => resolve()));
			return;
		}

		if (mode === "slow-answer" && !body.stream) {
			// Like vLLM, TGI, Ollama or llama.cpp generating a long answer: no headers until it is done.
			await sleep(SLOW_ANSWER_MS);
		}

		if (path === "/v1/embeddings") return embeddings(res, body, model);
		const prompt = promptText(body);
		const promptTokens = countTokens(prompt);
		const maxTokens = Number(body.max_tokens ?? body.max_completion_tokens ?? 16);
		const words = REPLY.split(" ").slice(0, Math.max(0, maxTokens));
		const chat = path === "/v1/chat/completions";
		const id = `${chat ? "chatcmpl" : "cmpl"}-standin${Date.now()}`;
		const created = Math.floor(Date.now() / 1000);
		// ":inflated-usage" over-reports, as a misbehaving upstream might.
		const inflate = mode === "inflated-usage" ? 1000 : 1;
		const usage = {
			prompt_tokens: promptTokens * inflate,
			completion_tokens: words.length * inflate,
			total_tokens: (promptTokens + words.length) * inflate,
		};

		if (!body.stream) {
			const finish = words.length < REPLY.split(" ").length ? "length" : "stop";
			if (mode === "stall") {
				// Headers and half the body, then nothing: the gateway's total timeout must give up on it.
				const whole = JSON.stringify({ id, object: chat ? "chat.completion" : "text_completion", created, model, usage });
				res.writeHead(200, { "content-type": "application/json" });
				res.write(whole.slice(0, whole.length >> 1));
				await new Promise<void>((resolve) => res.on("close", () => resolve()));
				return;
			}
			const choice = chat
				? { index: 0, message: { role: "assistant", content: words.join(" ") }, finish_reason: finish, logprobs: null }
				: { index: 0, text: words.join(" "), finish_reason: finish, logprobs: null };
			return sendJson(res, 200, {
				id,
				object: chat ? "chat.completion" : "text_completion",
				created,
				model,
				choices: [choice],
				...(mode === "no-usage" ? {} : { usage }),
			});
		}

		res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
		if (mode === "silent-stream") {
			// Headers at once, then nothing: the gateway's first-byte timeout must give up on it.
			res.flushHeaders();
			await new Promise<void>((resolve) => res.on("close", () => resolve()));
			return;
		}
		const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
		const chunk = (delta: string | null, finish: string | null) =>
			chat
				? {
						id,
						object: "chat.completion.chunk",
						created,
						model,
						choices: [{ index: 0, delta: delta === null ? {} : { content: delta }, finish_reason: finish }],
					}
				: { id, object: "text_completion", created, model, choices: [{ index: 0, text: delta ?? "", finish_reason: finish }] };
		let aborted = false;
		res.on("close", () => {
			aborted = !res.writableFinished;
		});
		if (mode === "stream-error" && !prompt.includes("over-long")) return httpError(res, 500);
		if (mode === "stream-error") {
			// For a prompt saying "over-long": an error inside a 200 stream, as llama.cpp's server
			// sent one before late 2025 (an SSE `error:` field), the request's own fault; any other
			// prompt gets a 500 (the upstream's own failure).
			res.write(
				`error: ${JSON.stringify({ code: 400, message: "the request exceeds the available context size", type: "invalid_request_error" })}\n\n`,
			);
			res.end("data: [DONE]\n\n");
			return;
		}
		for (const [i, word] of words.entries()) {
			if (aborted) return;
			if (mode === "die-midstream" && i === 3) {
				res.destroy();
				return;
			}
			if (mode === "stall" && i === 3) {
				// Three words, then silence until the gateway gives up (its total timeout).
				await new Promise<void>((resolve) => res.on("close", () => resolve()));
				return;
			}
			res.write(`data: ${JSON.stringify(chunk(i === 0 ? word : ` ${word}`, null))}\n\n`);
			if (tokenDelayMs > 0) await sleep(tokenDelayMs);
		}
		res.write(`data: ${JSON.stringify(chunk(null, "stop"))}\n\n`);
		if (includeUsage && mode !== "no-usage")
			res.write(
				`data: ${JSON.stringify({ id, object: chat ? "chat.completion.chunk" : "text_completion", created, model, choices: [], usage })}\n\n`,
			);
		res.end("data: [DONE]\n\n");
	}

	await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve));
	const address = server.address() as AddressInfo;
	return {
		url: `http://${address.address}:${address.port}/v1`,
		server,
		close: () =>
			new Promise<void>((resolve) => {
				server.closeAllConnections();
				server.close(() => resolve());
			}),
	};
}

/** Model names ending in a marker make the stand-in misbehave on purpose, for tests. */
function behaviour(
	model: string,
):
	| "normal"
	| "http-error"
	| "no-usage"
	| "die-midstream"
	| "hang"
	| "silent-stream"
	| "stall"
	| "inflated-usage"
	| "slow-answer"
	| "stream-error" {
	// ":http-500", ":http-400", ":http-401", ...: that status, with an OpenAI-style error.
	if (/:http-\d{3}$/.test(model)) return "http-error";
	if (model.endsWith(":no-usage")) return "no-usage";
	if (model.endsWith(":die-midstream")) return "die-midstream";
	if (model.endsWith(":hang")) return "hang";
	if (model.endsWith(":silent-stream")) return "silent-stream";
	if (model.endsWith(":stall")) return "stall";
	if (model.endsWith(":inflated-usage")) return "inflated-usage";
	if (model.endsWith(":slow-answer")) return "slow-answer";
	if (model.endsWith(":stream-error")) return "stream-error";
	return "normal";
}

/** The error OpenAI's API would send with `status` (as far as tests look at it). */
function httpError(res: ServerResponse, status: number): void {
	const [message, type] =
		status === 400
			? ["stand-in says: this context is too long", "invalid_request_error"]
			: status === 401
				? ["Incorrect API key provided: sk-stand***-in. (stand-in)", "invalid_request_error"]
				: status >= 500
					? ["stand-in failure", "server_error"]
					: [`stand-in answers HTTP ${status}`, "invalid_request_error"];
	sendJson(res, status, { error: { message, type } });
}

function embeddings(res: ServerResponse, body: Record<string, unknown>, model: string): void {
	const inputs = Array.isArray(body.input) ? body.input.map(String) : [String(body.input ?? "")];
	const data = inputs.map((text, index) => ({ object: "embedding", index, embedding: fakeEmbedding(text) }));
	const tokens = inputs.reduce((n, t) => n + countTokens(t), 0);
	sendJson(res, 200, { object: "list", data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } });
}

function fakeEmbedding(text: string): number[] {
	const v = new Array<number>(8).fill(0);
	for (let i = 0; i < text.length; i++) v[i % 8] = (v[i % 8] ?? 0) + text.charCodeAt(i) / 1000;
	return v;
}

function promptText(body: Record<string, unknown>): string {
	if (Array.isArray(body.messages)) {
		return body.messages
			.map((m: { content?: unknown }) => (typeof m.content === "string" ? m.content : JSON.stringify(m.content ?? "")))
			.join(" ");
	}
	return String(body.prompt ?? "");
}

export function countTokens(text: string): number {
	return text.split(/\s+/).filter(Boolean).length;
}

function readBody(req: IncomingMessage): Promise<string> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		req.on("data", (c: Buffer) => chunks.push(c));
		req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
		req.on("error", reject);
	});
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
	const text = JSON.stringify(value);
	res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
	res.end(text);
}

function sleep(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

if (import.meta.url === `file://${process.argv[1]}`) {
	const port = Number(process.env.STAND_IN_PORT ?? 8788);
	const upstream = await startStandInUpstream({ port, tokenDelayMs: Number(process.env.STAND_IN_TOKEN_DELAY_MS ?? 30) });
	console.log(`development stand-in upstream (not a model) at ${upstream.url}`);
}
