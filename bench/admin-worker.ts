// Bench-only admin Worker, run beside the gateway in the same Miniflare. It binds
// the gateway's D1 database and its Durable Object classes (by script name), so it
// can seed and inspect exactly what the gateway uses, through the project's own
// code (issueApiKey, upsertModel) and the objects' RPC methods. It is never on a
// measured request path.

import type { AccountLedger } from "../durable-objects/account-ledger.ts";
import type { ModelMeter } from "../durable-objects/model-meter.ts";
import { openDb } from "../lib/db/client.ts";
import { upsertModel } from "../lib/db/models.ts";
import { hashApiKey, keyPrefix } from "../lib/keys.ts";
import { issueApiKey, ledgerFor } from "../workers/gateway/accounts.ts";
import type { Env } from "../workers/gateway/env.ts";

interface AdminEnv {
	DB: D1Database;
	ACCOUNT_LEDGER: DurableObjectNamespace<AccountLedger>;
	MODEL_METER: DurableObjectNamespace<ModelMeter>;
}

const json = (value: unknown, status = 200) =>
	new Response(
		JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v)),
		{ status, headers: { "content-type": "application/json" } },
	);

export default {
	async fetch(request: Request, env: AdminEnv): Promise<Response> {
		const path = new URL(request.url).pathname;
		try {
			const body = request.method === "POST" ? ((await request.json()) as Record<string, unknown>) : {};
			switch (path) {
				case "/migrate":
					return json(await migrate(env, body.sql as string[]));
				case "/seed":
					return json(await seed(env, body as unknown as SeedInput));
				case "/add-keys":
					return json(await addKeys(env, body as unknown as AddKeysInput));
				case "/state":
					return json(await state(env, body as unknown as StateInput));
				case "/meter-bench":
					return json(await meterBench(env, body as unknown as MeterBenchInput));
				default:
					return json({ error: `unknown path ${path}` }, 404);
			}
		} catch (err) {
			return json({ error: String((err as Error).stack ?? err) }, 500);
		}
	},
};

async function migrate(env: AdminEnv, statements: string[]) {
	await env.DB.batch(statements.map((s) => env.DB.prepare(s)));
	return { statements: statements.length };
}

interface SeedInput {
	upstreamUrl: string;
	models: string[];
	payers: string[];
	/** Credit per payer, base units as a decimal string. */
	credit: string;
	inputPricePerM: string;
	outputPricePerM: string;
}

async function seed(env: AdminEnv, input: SeedInput) {
	const db = openDb(env.DB);
	for (const id of input.models) {
		await upsertModel(db, {
			id,
			displayName: id,
			inputPricePerM: BigInt(input.inputPricePerM),
			outputPricePerM: BigInt(input.outputPricePerM),
			upstreams: [{ kind: "openai", baseUrl: input.upstreamUrl, upstreamModel: "stand-in", apiKeySecret: null }],
		});
	}
	const keys: Array<{ payer: string; key: string }> = [];
	for (const payer of input.payers) {
		const { key, keyId } = await issueApiKey(env as unknown as Env, db, payer, { name: "bench" });
		await ledgerFor(env as unknown as Env, payer).credit(`bench-${keyId}`, BigInt(input.credit), "bench");
		keys.push({ payer, key });
	}
	return { keys };
}

interface AddKeysInput {
	keys: Array<{ payer: string; key: string }>;
	credit: string;
}

/** Registers existing keys (same plaintext, same hash) in these objects' ledgers, with credit. */
async function addKeys(env: AdminEnv, input: AddKeysInput) {
	for (const [i, { payer, key }] of input.keys.entries()) {
		const ledger = ledgerFor(env as unknown as Env, payer);
		const keyId = `key_bench_${i}`;
		await ledger.addKey({
			keyId,
			keyHash: await hashApiKey(key),
			prefix: keyPrefix(key),
			name: "bench",
			spendCap: null,
			allowedModels: null,
		});
		await ledger.credit(`bench-${keyId}`, BigInt(input.credit), "bench");
	}
	return { added: input.keys.length };
}

interface StateInput {
	models: string[];
	payers: string[];
}

async function state(env: AdminEnv, input: StateInput) {
	const meters = await Promise.all(
		input.models.map(async (id) => {
			const meter = env.MODEL_METER.getByName(id);
			const [pending, counters] = await Promise.all([meter.pendingFlush(), meter.counters()]);
			return { id, pending, counters };
		}),
	);
	const ledgers = await Promise.all(
		input.payers.map(async (payer) => ({ payer, account: await ledgerFor(env as unknown as Env, payer).account() })),
	);
	const d1 = new Map<string, { rows: number; fees: bigint }>();
	for (const id of input.models) d1.set(id, { rows: 0, fees: 0n });
	// Fees are decimal TEXT (they can exceed SQLite's INTEGER), so they are summed here.
	const rows = await env.DB.prepare("SELECT model_id, fee FROM usage").all<{ model_id: string; fee: string }>();
	for (const r of rows.results) {
		const entry = d1.get(r.model_id) ?? { rows: 0, fees: 0n };
		entry.rows += 1;
		entry.fees += BigInt(r.fee);
		d1.set(r.model_id, entry);
	}
	return { meters, ledgers, d1: Object.fromEntries(d1) };
}

interface MeterBenchInput {
	modelId: string;
	records: number;
	concurrency: number;
	payers: string[];
	/** Records per call: 1 calls record(), more calls recordBatch() (as the gateway's isolates do). */
	batch?: number;
}

/** Records to one model's meter from `concurrency` callers; every record is a distinct request. */
async function meterBench(env: AdminEnv, input: MeterBenchInput) {
	const meter = env.MODEL_METER.getByName(input.modelId);
	const run = crypto.randomUUID().slice(0, 8);
	const batch = input.batch ?? 1;
	let next = 0;
	let failed = 0;
	const usage = (i: number) => ({
		requestId: `req_meterbench_${run}_${i}`,
		keyId: "key_meterbench",
		payer: input.payers[i % input.payers.length] ?? "0x0",
		promptTokens: 12,
		completionTokens: 16,
		fee: 120_000_000_000n,
		status: "ok" as const,
		usageSource: "upstream" as const,
		createdAt: Date.now(),
		upstreams: [{ position: 0, ok: true }],
	});
	const started = Date.now();
	const worker = async () => {
		while (next < input.records) {
			const first = next;
			next = Math.min(input.records, next + batch);
			const ids = Array.from({ length: next - first }, (_, k) => first + k);
			try {
				if (batch === 1) await meter.record(input.modelId, usage(first));
				else await meter.recordBatch(input.modelId, ids.map(usage));
			} catch {
				failed += ids.length;
			}
		}
	};
	await Promise.all(Array.from({ length: input.concurrency }, worker));
	const elapsedMs = Date.now() - started;
	return { records: input.records, failed, elapsedMs, perSecond: Math.round((input.records / elapsedMs) * 1000) };
}
