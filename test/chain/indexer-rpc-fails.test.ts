import { env } from "cloudflare:test";
import { parseEther } from "viem";
import { afterEach, describe, expect, it } from "vitest";
import { depositsOf, readCursor, reversalsOf } from "../../lib/db/chain.ts";
import { db } from "../helpers/fixtures.ts";
import { deployment, deposit, fixture, ledger, newAccount, runIndexer } from "./helpers.ts";

// The RPC fails in the middle of an indexer run (test/node/rpc-faults.ts): an error is not
// an answer about the chain, so nothing may be rolled back or credited on the strength of it.

const net = () => deployment("indexer-rpc-fails");
const faults = `${fixture().faultyRpcUrl}/indexer-rpc-fails`;
const vars = { RPC_URL: faults };

async function fail(rules: { after?: string; fail: Array<{ method: string; wider?: number; message?: string }> }): Promise<void> {
	const res = await fetch(`${faults}/__faults`, { method: "POST", body: JSON.stringify(rules) });
	expect(res.ok).toBe(true);
}

afterEach(async () => {
	await fetch(`${faults}/__faults`, { method: "DELETE" });
});

describe("indexer: RPC errors", () => {
	it("an RPC error reading the cursor's block rolls nothing back: the run fails and the next one carries on", async () => {
		const payer = await newAccount(net(), parseEther("6"));
		await deposit(net(), payer.wallet, parseEther("5"));
		await runIndexer(net(), vars);
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("5"));
		const cursor = await readCursor(db(), net().chainId);
		expect(cursor).toBeDefined();

		await fail({ fail: [{ method: "eth_getBlockByNumber" }] });
		await expect(runIndexer(net(), vars)).rejects.toThrow(/injected fault/);
		await fetch(`${faults}/__faults`, { method: "DELETE" });

		expect((await ledger(payer.address).account()).balance).toBe(parseEther("5"));
		expect(await readCursor(db(), net().chainId)).toMatchObject({ lastBlock: cursor?.lastBlock, lastHash: cursor?.lastHash });
		expect(await depositsOf(db(), payer.address)).toHaveLength(1);
		expect(await reversalsOf(db(), payer.address)).toEqual([]);
		const reversals = await env.DB.prepare("SELECT COUNT(*) AS n FROM credit_reversals").first<{ n: number }>();
		expect(reversals?.n).toBe(0);

		await deposit(net(), payer.wallet, parseEther("1"));
		await runIndexer(net(), vars);
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("6"));
	});

	it("splits a getLogs range the provider refuses as too large, down to what it accepts", async () => {
		const payer = await newAccount(net(), parseEther("6"));
		await runIndexer(net(), vars);
		for (const amount of [1n, 2n, 3n]) await deposit(net(), payer.wallet, parseEther(amount.toString()));
		const before = (await readCursor(db(), net().chainId))?.lastBlock ?? 0;

		// As Infura answers: a range wider than 2 blocks is refused, on every run.
		await fail({ fail: [{ method: "eth_getLogs", wider: 2, message: "query returned more than 10000 results" }] });
		await runIndexer(net(), vars);

		expect((await ledger(payer.address).account()).balance).toBe(parseEther("6"));
		expect(await depositsOf(db(), payer.address)).toHaveLength(3);
		expect((await readCursor(db(), net().chainId))?.lastBlock).toBeGreaterThanOrEqual(before + 6);
	});
});
