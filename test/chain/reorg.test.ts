import { env } from "cloudflare:test";
import { parseEther, toFunctionSelector } from "viem";
import { describe, expect, it } from "vitest";
import { depositsOf, marketByToken, readCursor, reversalsOf, topHolders } from "../../lib/db/chain.ts";
import { issueSession } from "../../workers/gateway/session.ts";
import { db, newKey, testEnv } from "../helpers/fixtures.ts";
import { callGateway } from "../helpers/gateway.ts";
import {
	buy,
	deposit,
	fixture,
	isolatedNet,
	ledger,
	newAccount,
	runIndexer,
	sessionHeader,
	spend,
	testClient,
	tokenize,
} from "./helpers.ts";

// Its own anvil node: snapshot/revert rewinds the whole chain.
const net = () => isolatedNet("reorg");

describe("indexer: reorgs", () => {
	it("undoes a deposit credit and a trade that left the chain, then applies the new chain", async () => {
		const payer = await newAccount(net(), parseEther("50"));
		const trader = await newAccount(net(), parseEther("500"));
		const creator = await newAccount(net(), 0n);
		const { token, sale } = await tokenize(net(), creator.wallet);
		await runIndexer(net());
		const before = await marketByToken(db(), token);
		expect(before?.raised).toBe(0n);

		const snapshot = await testClient(net()).snapshot();
		const removed = await deposit(net(), payer.wallet, parseEther("10"));
		await buy(net(), trader.wallet, sale, parseEther("100"));
		await runIndexer(net()); // depth 0: applied at the head
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("10"));
		expect((await marketByToken(db(), token))?.raised).toBeGreaterThan(0n);
		expect((await topHolders(db(), token, 10, [])).map((h) => h.account)).toContain(trader.address);

		// The fork: the deposit and the buy vanish; another deposit lands instead, on a longer chain.
		await testClient(net()).revert({ id: snapshot });
		const replacement = await deposit(net(), payer.wallet, parseEther("4"));
		await testClient(net()).mine({ blocks: 3 });
		await runIndexer(net());

		expect((await ledger(payer.address).account()).balance).toBe(parseEther("4"));
		const rows = await depositsOf(db(), payer.address);
		expect(rows.map((d) => d.amount)).toEqual([parseEther("4")]);
		expect(await reversalsOf(db(), payer.address)).toMatchObject([
			{ amount: parseEther("10"), reversed: parseEther("10"), shortfall: 0n },
		]);
		// The payer whose balance dropped sees why: the removed deposit, listed as reversed.
		const headers = await sessionHeader(payer.address);
		const listed = (await callGateway("/v1/account/deposits?include=reversed", { headers })).json();
		expect(listed.data).toEqual([
			{
				tx_hash: replacement.transactionHash,
				log_index: expect.any(Number),
				block_number: Number(replacement.blockNumber),
				from: payer.address,
				amount: parseEther("4").toString(),
				credited: true,
				status: "credited",
				reversal: null,
			},
			{
				tx_hash: removed.transactionHash,
				log_index: expect.any(Number),
				block_number: Number(removed.blockNumber),
				from: payer.address,
				amount: parseEther("10").toString(),
				credited: false,
				status: "reversed",
				reversal: { reversed: parseEther("10").toString(), shortfall: "0" },
			},
		]);
		// Unasked, only the live deposit: a client from before `status` would read the reversed one,
		// credited: false, as pending.
		const plain = (await callGateway("/v1/account/deposits", { headers })).json();
		expect(plain.data.map((d: { tx_hash: string }) => d.tx_hash)).toEqual([replacement.transactionHash]);
		expect((await callGateway("/v1/account/deposits?include=all", { headers })).json().error).toMatchObject({
			param: "include",
		});
		const after = await marketByToken(db(), token);
		expect(after?.raised).toBe(0n);
		expect(after?.virtualPaca).toBe(after?.initialVirtualPaca);
		expect((await topHolders(db(), token, 10, [])).map((h) => h.account)).not.toContain(trader.address);

		// Nothing more happens on the next runs.
		await runIndexer(net());
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("4"));
	});

	it("when the payer already spent a deposit that a reorg removed, takes back what is left and reports the shortfall", async () => {
		const payer = await newAccount(net(), parseEther("10"));
		const { key } = await newKey({ payer: payer.address, credit: 0n });
		const snapshot = await testClient(net()).snapshot();
		const deposited = await deposit(net(), payer.wallet, parseEther("10"));
		await runIndexer(net());
		await spend(payer.address, key, parseEther("6"));
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("4"));

		await testClient(net()).revert({ id: snapshot });
		await testClient(net()).mine({ blocks: 5 });
		await runIndexer(net());

		expect((await ledger(payer.address).account()).balance).toBe(0n);
		const { token } = await issueSession(testEnv(), payer.address);
		const res = await callGateway("/v1/account/deposits?include=reversed", { headers: { authorization: `Bearer ${token}` } });
		expect(res.json()).toMatchObject({
			data: [
				{
					tx_hash: deposited.transactionHash,
					block_number: Number(deposited.blockNumber),
					amount: parseEther("10").toString(),
					credited: false,
					status: "reversed",
					reversal: { reversed: parseEther("4").toString(), shortfall: parseEther("6").toString() },
				},
			],
			reversed: [
				{ amount: parseEther("10").toString(), reversed: parseEther("4").toString(), shortfall: parseEther("6").toString() },
			],
		});
		expect(res.json().data).toHaveLength(1);
	});

	it("credits a deposit again, once, when a rollback removed it and the same log comes back (A→B→A)", async () => {
		const payer = await newAccount(net(), parseEther("10"));
		await runIndexer(net());
		const chainId = net().chainId;
		const base = await readCursor(db(), chainId);
		if (!base) throw new Error("no cursor");
		const snapshot = await testClient(net()).snapshot();
		await deposit(net(), payer.wallet, parseEther("10"));
		await testClient(net()).mine({ blocks: 1 });
		await runIndexer(net());
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("10"));

		// The indexer's stored hashes above `base` stop matching the node's (as when it had followed
		// another chain B): it rolls back to `base`, reversing the deposit, and re-reads the node's
		// chain, whose log has the same block hash and so the same credit id.
		await env.DB.prepare("UPDATE chain_blocks SET hash = '0xb' || number WHERE chain_id = ? AND number > ?")
			.bind(chainId, base.lastBlock)
			.run();
		await env.DB.prepare("UPDATE chain_cursor SET last_hash = '0xb' || last_block WHERE chain_id = ?").bind(chainId).run();
		await runIndexer(net());
		expect(await reversalsOf(db(), payer.address)).toMatchObject([{ amount: parseEther("10"), reversed: parseEther("10") }]);
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("10"));
		expect((await depositsOf(db(), payer.address)).map((d) => d.amount)).toEqual([parseEther("10")]);
		await runIndexer(net());
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("10"));

		// Credited again, it can be reversed again: a real reorg now removes the deposit.
		await testClient(net()).revert({ id: snapshot });
		await testClient(net()).mine({ blocks: 5 });
		await runIndexer(net());
		expect((await ledger(payer.address).account()).balance).toBe(0n);
		expect(await depositsOf(db(), payer.address)).toEqual([]);
	});

	it("stops with an error, rolling nothing back, when no stored block hash matches the node's chain", async () => {
		const payer = await newAccount(net(), parseEther("3"));
		await deposit(net(), payer.wallet, parseEther("3"));
		await runIndexer(net());
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("3"));
		const chainId = net().chainId;
		const cursor = await readCursor(db(), chainId);
		const blocks = await env.DB.prepare("SELECT number, hash FROM chain_blocks WHERE chain_id = ?")
			.bind(chainId)
			.all<{ number: number; hash: string }>();

		// Every stored hash differs from the node's (a reorg deeper than the stored hashes, another chain).
		await env.DB.prepare("UPDATE chain_blocks SET hash = '0xb' || number WHERE chain_id = ?").bind(chainId).run();
		await env.DB.prepare("UPDATE chain_cursor SET last_hash = '0xb' || last_block WHERE chain_id = ?").bind(chainId).run();
		try {
			await expect(runIndexer(net())).rejects.toThrow(/no stored block hash/);
			expect((await ledger(payer.address).account()).balance).toBe(parseEther("3"));
			expect(await depositsOf(db(), payer.address)).toHaveLength(1);
			expect(await reversalsOf(db(), payer.address)).toEqual([]);
			expect((await readCursor(db(), chainId))?.lastBlock).toBe(cursor?.lastBlock);
		} finally {
			await env.DB.batch(
				blocks.results.map((b) =>
					env.DB.prepare("UPDATE chain_blocks SET hash = ? WHERE chain_id = ? AND number = ?").bind(b.hash, chainId, b.number),
				),
			);
			await env.DB.prepare("UPDATE chain_cursor SET last_hash = ? WHERE chain_id = ?").bind(cursor?.lastHash, chainId).run();
		}
	});

	it("credits no deposit a stopped run left above the cursor: a reorg of those blocks leaves no phantom credit", async () => {
		const payer = await newAccount(net(), parseEther("7"));
		const creator = await newAccount(net(), 0n);
		await runIndexer(net());
		const snapshot = await testClient(net()).snapshot();
		// A tokenization in the same range: its market's recompute (an eth_call, after the range's
		// writes, before the cursor moves) is where the run is made to fail.
		const { token } = await tokenize(net(), creator.wallet);
		await deposit(net(), payer.wallet, parseEther("7"));
		const faults = `${fixture().isolated.reorg?.faultyRpcUrl}/reorg`;
		const rules = { fail: [{ method: "eth_call", data: toFunctionSelector("initialVirtualReserves()") }] };
		expect((await fetch(`${faults}/__faults`, { method: "POST", body: JSON.stringify(rules) })).ok).toBe(true);
		try {
			await expect(runIndexer(net(), { RPC_URL: faults })).rejects.toThrow(/injected fault/);
			// The second run stops at the same point; nothing above the cursor is credited meanwhile.
			await expect(runIndexer(net(), { RPC_URL: faults })).rejects.toThrow(/injected fault/);
		} finally {
			await fetch(`${faults}/__faults`, { method: "DELETE" });
		}
		expect((await ledger(payer.address).account()).balance).toBe(0n);

		// Those blocks leave the chain before the next run.
		await testClient(net()).revert({ id: snapshot });
		await testClient(net()).mine({ blocks: 4 });
		await runIndexer(net());
		expect((await ledger(payer.address).account()).balance).toBe(0n);
		expect(await depositsOf(db(), payer.address)).toEqual([]);
		expect(await marketByToken(db(), token)).toBeUndefined();
		await runIndexer(net());
		expect((await ledger(payer.address).account()).balance).toBe(0n);
	});

	it("after a run stopped above the cursor, the next run credits the deposit exactly once", async () => {
		const payer = await newAccount(net(), parseEther("2"));
		const creator = await newAccount(net(), 0n);
		await runIndexer(net());
		await tokenize(net(), creator.wallet);
		await deposit(net(), payer.wallet, parseEther("2"));
		const faults = `${fixture().isolated.reorg?.faultyRpcUrl}/reorg`;
		const rules = { fail: [{ method: "eth_call", data: toFunctionSelector("initialVirtualReserves()") }] };
		expect((await fetch(`${faults}/__faults`, { method: "POST", body: JSON.stringify(rules) })).ok).toBe(true);
		try {
			await expect(runIndexer(net(), { RPC_URL: faults })).rejects.toThrow(/injected fault/);
		} finally {
			await fetch(`${faults}/__faults`, { method: "DELETE" });
		}
		expect((await ledger(payer.address).account()).balance).toBe(0n);
		await runIndexer(net());
		await runIndexer(net());
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("2"));
		expect(await depositsOf(db(), payer.address)).toHaveLength(1);
		expect(await reversalsOf(db(), payer.address)).toEqual([]);
	});
});
