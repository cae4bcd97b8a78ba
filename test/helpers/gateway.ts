import { createExecutionContext, env, runDurableObjectAlarm, waitOnExecutionContext } from "cloudflare:test";
import { eq } from "drizzle-orm";
import { usage } from "../../lib/db/schema.ts";
import worker from "../../workers/gateway/index.ts";
import { db } from "./fixtures.ts";

/**
 * Calls the gateway in-process and waits for everything it deferred with
 * waitUntil (metering), so assertions see the final state.
 */
export async function callGateway(path: string, init: RequestInit & { key?: string; json?: unknown } = {}) {
	const headers = new Headers(init.headers);
	if (init.key) headers.set("authorization", `Bearer ${init.key}`);
	let body = init.body;
	if (init.json !== undefined) {
		body = JSON.stringify(init.json);
		headers.set("content-type", "application/json");
	}
	const ctx = createExecutionContext();
	const response = await worker.fetch(
		new Request(`https://gateway.test${path}`, { method: init.method ?? (body ? "POST" : "GET"), headers, body }),
		env as TestEnv,
		ctx,
	);
	const text = await response.text();
	await waitOnExecutionContext(ctx);
	return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) };
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
