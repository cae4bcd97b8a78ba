// Closed-loop load generator on node:http with keep-alive connections, one agent
// per target. A request's latency runs from just before it is written to the end
// of its body; a stream's time to first byte ends at the first body chunk.

import { Agent, request } from "node:http";

export interface Target {
	name: string;
	/** Base URL ending in /v1. */
	base: string;
	agent: Agent;
}

export function newTarget(name: string, base: string): Target {
	return { name, base, agent: newAgent() };
}

function newAgent(): Agent {
	return new Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 });
}

/**
 * Drops the target's idle keep-alive connections. workerd closes a connection after
 * 15 s idle (measured: all 8 idle sockets closed at 15.0 s); a request written on one
 * as it closes fails with ECONNRESET / "socket hang up" without reaching the Worker.
 * Call this after a pause in the load.
 */
export function freshConnections(target: Target): void {
	target.agent.destroy();
	target.agent = newAgent();
}

export interface Sample {
	/** Full response time (ms). */
	totalMs: number;
	/** Time to the first body chunk (ms). */
	ttfbMs: number;
	ok: boolean;
	/** For a failed request: status and the start of the body (or the socket error). */
	error?: string;
}

export interface Call {
	target: Target;
	body: string;
	authorization: string | null;
	stream: boolean;
}

export function send(call: Call): Promise<Sample> {
	return new Promise((resolve) => {
		const url = new URL(`${call.target.base}/chat/completions`);
		const headers: Record<string, string | number> = {
			"content-type": "application/json",
			"content-length": Buffer.byteLength(call.body),
		};
		if (call.authorization) headers.authorization = call.authorization;
		const started = performance.now();
		let ttfb = 0;
		let tail = "";
		let head = "";
		const req = request(
			{ host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers, agent: call.target.agent },
			(res) => {
				res.on("data", (chunk: Buffer) => {
					if (ttfb === 0) ttfb = performance.now() - started;
					if (call.stream) tail = (tail + chunk.toString("latin1")).slice(-64);
					if (res.statusCode !== 200 && head.length < 300) head += chunk.toString("utf8");
				});
				res.on("end", () => {
					const totalMs = performance.now() - started;
					// A stream is whole only if it ended with the SSE terminator.
					const ok = res.statusCode === 200 && (!call.stream || tail.includes("[DONE]"));
					const error = ok
						? undefined
						: `HTTP ${res.statusCode}${call.stream && res.statusCode === 200 ? " (stream without [DONE])" : ""} ${head.slice(0, 300)}`;
					resolve({ totalMs, ttfbMs: ttfb || totalMs, ok, error });
				});
				res.on("error", (err) => resolve({ totalMs: performance.now() - started, ttfbMs: 0, ok: false, error: String(err) }));
			},
		);
		req.on("error", (err) => resolve({ totalMs: performance.now() - started, ttfbMs: 0, ok: false, error: String(err) }));
		req.end(call.body);
	});
}

let sampleHook: ((call: Call, sample: Sample) => void) | null = null;
/** Called for every sample of every closed loop (for run-wide counts). */
export function onEverySample(hook: (call: Call, sample: Sample) => void): void {
	sampleHook = hook;
}

/**
 * Runs `total` calls from `concurrency` closed-loop workers. `plan(i, worker)` names
 * call i; the caller interleaves targets through it.
 */
export async function runClosedLoop(
	total: number,
	concurrency: number,
	plan: (i: number, worker: number) => Call,
	onSample: (i: number, call: Call, sample: Sample) => void,
): Promise<number> {
	let next = 0;
	const started = performance.now();
	const worker = async (w: number) => {
		while (next < total) {
			const i = next++;
			const call = plan(i, w);
			const sample = await send(call);
			sampleHook?.(call, sample);
			onSample(i, call, sample);
		}
	};
	await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
	return performance.now() - started;
}

export function percentile(sorted: number[], p: number): number {
	if (sorted.length === 0) return Number.NaN;
	const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
	return sorted[idx] ?? Number.NaN;
}

/** The benchmark's request: one short chat message, 16 tokens out, streamed with usage or not. */
export function requestBody(model: string, stream: boolean): string {
	return JSON.stringify({
		model,
		messages: [
			{ role: "user", content: "Benchmark prompt: summarise the overhead of a metered gateway in one short sentence please." },
		],
		max_tokens: 16,
		...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
	});
}
