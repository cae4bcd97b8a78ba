import { parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { depositsOf, marketByToken, reversalsOf, topHolders } from "../../lib/db/chain.ts";
import { issueSession } from "../../workers/gateway/session.ts";
import { db, newKey, testEnv } from "../helpers/fixtures.ts";
import { callGateway } from "../helpers/gateway.ts";
import { buy, deposit, isolatedNet, ledger, newAccount, runIndexer, spend, testClient, tokenize } from "./helpers.ts";

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

	it("when the payer already spent a deposit that a reorg removed, takes back what is left and reports the shortfall", async () => {
		const payer = await newAccount(net(), parseEther("10"));
		const { key } = await newKey({ payer: payer.address, credit: 0n });
		const snapshot = await testClient(net()).snapshot();
		await deposit(net(), payer.wallet, parseEther("10"));
		await runIndexer(net());
		await spend(payer.address, key, parseEther("6"));
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("4"));

		await testClient(net()).revert({ id: snapshot });
		await testClient(net()).mine({ blocks: 5 });
		await runIndexer(net());

		expect((await ledger(payer.address).account()).balance).toBe(0n);
		const { token } = await issueSession(testEnv(), payer.address);
		const res = await callGateway("/v1/account/deposits", { headers: { authorization: `Bearer ${token}` } });
		expect(res.json()).toMatchObject({
			data: [],
			reversed: [
				{ amount: parseEther("10").toString(), reversed: parseEther("4").toString(), shortfall: parseEther("6").toString() },
			],
		});
	});
});
