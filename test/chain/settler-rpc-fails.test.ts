import { env } from "cloudflare:test";
import { parseEther, toFunctionSelector } from "viem";
import { describe, expect, it } from "vitest";
import { epochRow } from "../../lib/db/chain.ts";
import { runSettler } from "../../workers/settler/settler.ts";
import { db } from "../helpers/fixtures.ts";
import { callGateway } from "../helpers/gateway.ts";
import { deployment, fixture, fundedPayer, pacaOf, sessionHeader, settlerEnv } from "./helpers.ts";
import { EPOCH_MS, fundVault, killedAfterBroadcast, modelWithUsage, settledEvents, settledOnChain } from "./settler-fixtures.ts";

// The RPC fails right after a settle was broadcast (test/node/rpc-faults.ts): the run must
// report the epoch as failed and, since a transaction of it is out, send no withdrawal
// behind it (one transaction at a time: a withdrawal would take the next nonce while the
// settle may still need replacing at its own). The next run finds the settle and pays.

const net = () => deployment("settle-rpc-fails");
const faults = `${fixture().faultyRpcUrl}/settle-rpc-fails`;
const vars = { RPC_URL: faults, RECEIPT_WAIT_MS: "300" };

async function failAfterBroadcast(): Promise<void> {
	const res = await fetch(`${faults}/__faults`, {
		method: "POST",
		body: JSON.stringify({
			after: "eth_sendRawTransaction",
			// No receipt, and the vault's lastSettledEpoch cannot be read: checkSent throws.
			fail: [{ method: "eth_getTransactionReceipt" }, { method: "eth_call", data: toFunctionSelector("lastSettledEpoch()") }],
		}),
	});
	expect(res.ok).toBe(true);
}

describe("settler: the RPC fails after a settle was broadcast", () => {
	it("reports the epoch as failed, sends no withdrawal behind the settle, and finishes both on the next run", async () => {
		await fundVault(net(), parseEther("100"));
		const { token, epoch } = await modelWithUsage(net(), 1, parseEther("5"));
		const payer = await fundedPayer(net(), parseEther("2"));
		const withdrawal = await callGateway("/v1/account/withdrawals", {
			headers: await sessionHeader(payer.address),
			json: { amount: parseEther("2").toString() },
		});
		expect(withdrawal.status).toBe(201);
		const { id } = withdrawal.json() as { id: string };
		const before = await pacaOf(net(), payer.address);

		await failAfterBroadcast();
		const at = (epoch + 1) * EPOCH_MS + 1_000;
		let failed: Awaited<ReturnType<typeof runSettler>>;
		try {
			failed = await runSettler(settlerEnv(net(), vars), at);
		} finally {
			await fetch(`${faults}/__faults`, { method: "DELETE" });
		}
		expect(failed.failed?.epoch).toBe(epoch);
		expect(failed.failed?.message).toContain("injected fault");
		const row = await env.DB.prepare("SELECT state FROM withdrawals WHERE id = ?").bind(id).first<{ state: string }>();
		expect(row?.state).not.toBe("sent");
		expect(await pacaOf(net(), payer.address)).toBe(before);
		expect(failed.withdrawalsPaid).toBe(0);
		expect(failed.pending).toBe(epoch);
		expect((await epochRow(db(), epoch))?.state).toBe("sent");

		const next = await runSettler(settlerEnv(net(), vars), at + 60_000);
		expect(next.failed).toBeNull();
		expect(next.confirmed).toEqual([epoch]);
		expect(next.withdrawalsPaid).toBe(1);
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("2"));
		expect(await settledOnChain(net(), token)).toBe(parseEther("5"));
	});
});

describe("settler: a provider that caps getLogs ranges", () => {
	it("finds a settle whose sending D1 lost by its Settled log, reading the logs in ranges the provider takes", async () => {
		await fundVault(net(), parseEther("100"));
		const { token, epoch } = await modelWithUsage(net(), 1, parseEther("3"), { at: Date.now() + 5 * EPOCH_MS });
		const at = (epoch + 1) * EPOCH_MS + 1_000;
		// Killed right after the broadcast, its D1 write of "sent" lost: only the vault knows the settle.
		await expect(runSettler(settlerEnv(net()), at, killedAfterBroadcast)).rejects.toThrow("killed");
		expect((await epochRow(db(), epoch))?.state).toBe("prepared");

		// As Infura or Alchemy answer: a getLogs spanning more than a few blocks is refused, on every run.
		const res = await fetch(`${faults}/__faults`, {
			method: "POST",
			body: JSON.stringify({ fail: [{ method: "eth_getLogs", wider: 4, message: "query returned more than 10000 results" }] }),
		});
		expect(res.ok).toBe(true);
		let result: Awaited<ReturnType<typeof runSettler>>;
		try {
			// Ranges of 16 blocks, each split twice to what the provider takes.
			result = await runSettler(settlerEnv(net(), { ...vars, MAX_BLOCK_RANGE: "16" }), at + 60_000);
		} finally {
			await fetch(`${faults}/__faults`, { method: "DELETE" });
		}
		expect(result.failed).toBeNull();
		expect(result.confirmed).toEqual([epoch]);
		expect((await epochRow(db(), epoch))?.state).toBe("confirmed");
		expect(await settledEvents(net(), epoch)).toHaveLength(1);
		expect(await settledOnChain(net(), token)).toBe(parseEther("3"));
	});
});
