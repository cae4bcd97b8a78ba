import { createExecutionContext, env, runDurableObjectAlarm, waitOnExecutionContext } from "cloudflare:test";
import { eq } from "drizzle-orm";
import { usage } from "../../lib/db/schema.ts";
import worker from "../../workers/gateway/index.ts";
import { db } from "./fixtures.ts";

/**
 * Calls the gateway in-process, reads the whole response and waits for everything
 * it deferred with waitUntil (commit, metering), so assertions see the final state.
 */
export async function callGateway(path: string, init: GatewayInit = {}) {
	const { response, done } = await openGateway(path, init);
	const text = await response.text();
	await done();
	return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) };
}

/**
 * Calls the gateway as a client that goes away once `leaveWhen` resolves: the request's
 * signal aborts, as the runtime's does on a disconnect. `meanwhile` runs after it left,
 * before the gateway is done with the request.
 */
export async function callAndLeave(
	path: string,
	init: GatewayInit,
	leaveWhen: () => Promise<unknown>,
	meanwhile?: () => Promise<void>,
) {
	const client = new AbortController();
	const done = callGateway(path, { ...init, signal: client.signal });
	await leaveWhen();
	client.abort();
	await meanwhile?.();
	return done;
}

/** `env` overrides some of the gateway's vars for this call (e.g. production batch delays). */
type GatewayInit = RequestInit & { key?: string; json?: unknown; env?: Record<string, string> };

/**
 * Calls the gateway in-process and hands back the response unread (for streams);
 * `done()` waits for the work it deferred with waitUntil.
 */
export async function openGateway(path: string, init: GatewayInit = {}) {
	const headers = new Headers(init.headers);
	if (init.key) headers.set("authorization", `Bearer ${init.key}`);
	let body = init.body;
	if (init.json !== undefined) {
		body = JSON.stringify(init.json);
		headers.set("content-type", "application/json");
	}
	const ctx = createExecutionContext();
	const response = await worker.fetch(
		new Request(`https://gateway.test${path}`, {
			method: init.method ?? (body ? "POST" : "GET"),
			headers,
			body,
			// The incoming request's signal: aborting it is the client going away (enable_request_signal).
			...(init.signal ? { signal: init.signal } : {}),
		}),
		init.env ? { ...(env as TestEnv), ...init.env } : (env as TestEnv),
		ctx,
	);
	return { response, done: () => waitOnExecutionContext(ctx) };
}

/** `times` chat requests to `model` in turn, each carrying `marker` (to find them at the stand-in); their statuses. */
export async function chatRepeatedly(key: string, model: string, marker: string, times: number): Promise<number[]> {
	const statuses: number[] = [];
	for (let i = 0; i < times; i++) {
		const res = await callGateway("/v1/chat/completions", {
			key,
			json: { model, messages: [{ role: "user", content: `${marker} ${i}` }] },
		});
		statuses.push(res.status);
	}
	return statuses;
}

/** The data payloads of an SSE body, in order ("[DONE]" included). */
export function sseData(text: string): string[] {
	return text
		.split(/\r?\n\r?\n/)
		.map((event) =>
			event
				.split(/\r?\n/)
				.filter((line) => line.startsWith("data:"))
				.map((line) => line.slice(5).trimStart())
				.join("\n"),
		)
		.filter((data) => data !== "");
}

export function meterOf(modelId: string) {
	return (env as TestEnv).MODEL_METER.getByName(modelId);
}

/** Runs the model meter's flush alarm, as the runtime would a second later. */
export async function flushMeter(modelId: string): Promise<void> {
	await runDurableObjectAlarm(meterOf(modelId));
}

export async function usageRowsForModel(modelId: string) {
	return db().select().from(usage).where(eq(usage.modelId, modelId)).all();
}

/** The JSON chunks of an SSE body, without the closing "[DONE]". */
// biome-ignore lint/suspicious/noExplicitAny: OpenAI chunks, read field by field in tests
export function sseChunks(text: string): any[] {
	return sseData(text)
		.filter((data) => data !== "[DONE]")
		.map((data) => JSON.parse(data));
}
