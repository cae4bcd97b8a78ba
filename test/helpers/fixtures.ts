import { env } from "cloudflare:test";
import { openDb } from "../../lib/db/client.ts";
import { type NewModel, upsertModel } from "../../lib/db/models.ts";
import { type IssueKeyOptions, issueApiKey, ledgerFor } from "../../workers/gateway/accounts.ts";
import type { FinishedRequest } from "../../workers/gateway/leases.ts";

export const db = () => openDb(env.DB);

/** A fresh payer address, so each test owns its keys, ledger and rows. */
export function newPayer(): `0x${string}` {
	const bytes = crypto.getRandomValues(new Uint8Array(20));
	return `0x${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export const PACA = 10n ** 18n;

/** A key for a fresh payer (or `payer`), with `credit` base units on the payer's ledger. */
export async function newKey(opts: { payer?: string; credit?: bigint } & IssueKeyOptions = {}) {
	const payer = (opts.payer ?? newPayer()).toLowerCase();
	const { keyId, key } = await issueApiKey(testEnv(), db(), payer, { name: "test", ...opts });
	const credit = opts.credit ?? 1_000n * PACA;
	if (credit > 0n) await ledgerFor(testEnv(), payer).credit(`test-${keyId}`, credit, "test");
	return { id: keyId, key, payer };
}

export function testEnv(): TestEnv {
	return env as TestEnv;
}

/**
 * A model routed to the stand-in upstream. `behaviour` becomes the upstream model
 * name suffix the stand-in reacts to (":http-500", ":no-usage", ":die-midstream").
 */
export async function newModel(
	opts: {
		behaviour?: string;
		inputPricePerM?: bigint;
		outputPricePerM?: bigint;
		maxOutputTokens?: number;
		upstreams?: NewModel["upstreams"];
	} = {},
) {
	const id = `test/model-${crypto.randomUUID().slice(0, 8)}`;
	await upsertModel(db(), {
		id,
		displayName: id,
		inputPricePerM: opts.inputPricePerM ?? 2_000_000_000_000_000n,
		outputPricePerM: opts.outputPricePerM ?? 6_000_000_000_000_000n,
		...(opts.maxOutputTokens ? { maxOutputTokens: opts.maxOutputTokens } : {}),
		upstreams: opts.upstreams ?? [standIn(opts.behaviour)],
	});
	return id;
}

/** What the stand-in upstream received whose text contains `marker`. */
export async function upstreamRequestsWith(
	marker: string,
): Promise<Array<{ path: string; body: Record<string, unknown>; abandoned: boolean }>> {
	const base = env.STAND_IN_URL.replace(/\/v1$/, "");
	const all = (await (await fetch(`${base}/__requests`)).json()) as Array<{
		path: string;
		body: Record<string, unknown>;
		abandoned: boolean;
	}>;
	return all.filter((r) => JSON.stringify(r.body).includes(marker));
}

/** An OpenAI-compatible upstream row pointing at the stand-in with a behaviour suffix. */
export function standIn(behaviour = ""): NewModel["upstreams"][number] {
	return { kind: "openai", baseUrl: env.STAND_IN_URL, upstreamModel: `stand-in${behaviour}`, apiKeySecret: null };
}

/** A finished request of `modelId` that cost 10 base units, as the request path reports it to its lease. */
export function finishedRequest(payer: string, modelId = "m"): FinishedRequest {
	return {
		modelId,
		payer,
		promptTokens: 1,
		completionTokens: 1,
		cost: 10n,
		status: "ok",
		usageSource: "upstream",
		createdAt: Date.now(),
		upstreams: [],
	};
}
