import { env } from "cloudflare:test";
import { parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { depositsOf, marketByToken, reversalsOf, topHolders } from "../../lib/db/chain.ts";
import { openDb } from "../../lib/db/client.ts";
import { buy, deposit, isolatedNet, ledger, newAccount, runIndexer, testClient, tokenize } from "./helpers.ts";

// Its own anvil node: snapshot/revert rewinds the whole chain.
const net = () => isolatedNet("reorg");
const db = () => openDb(env.DB);

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
		await deposit(net(), payer.wallet, parseEther("10"));
		await buy(net(), trader.wallet, sale, parseEther("100"));
		await runIndexer(net()); // depth 0: applied at the head
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("10"));
		expect((await marketByToken(db(), token))?.raised).toBeGreaterThan(0n);
		expect((await topHolders(db(), token, 10, [])).map((h) => h.account)).toContain(trader.address);

		// The fork: the deposit and the buy vanish; another deposit lands instead, on a longer chain.
		await testClient(net()).revert({ id: snapshot });
		await deposit(net(), payer.wallet, parseEther("4"));
		await testClient(net()).mine({ blocks: 3 });
		await runIndexer(net());

		expect((await ledger(payer.address).account()).balance).toBe(parseEther("4"));
		const rows = await depositsOf(db(), payer.address);
		expect(rows.map((d) => d.amount)).toEqual([parseEther("4")]);
		expect(await reversalsOf(db(), payer.address)).toMatchObject([
			{ amount: parseEther("10"), reversed: parseEther("10"), shortfall: 0n },
		]);
		const after = await marketByToken(db(), token);
		expect(after?.raised).toBe(0n);
		expect(after?.virtualPaca).toBe(after?.initialVirtualPaca);
		expect((await topHolders(db(), token, 10, [])).map((h) => h.account)).not.toContain(trader.address);

		// Nothing more happens on the next runs.
		await runIndexer(net());
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("4"));
	});
});
