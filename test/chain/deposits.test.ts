import { createExecutionContext, env } from "cloudflare:test";
import { parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { depositsOf } from "../../lib/db/chain.ts";
import { openDb } from "../../lib/db/client.ts";
import { reverseDeposits } from "../../workers/indexer/credits.ts";
import indexer from "../../workers/indexer/index.ts";
import { runIndexer as runIndexerDirect } from "../../workers/indexer/indexer.ts";
import { callGateway } from "../helpers/gateway.ts";
import { deployment, deposit, indexerEnv, ledger, newAccount, runIndexer, sessionHeader, testClient } from "./helpers.ts";

const net = () => deployment("indexer");

describe("indexer: deposits", () => {
	it("credits a confirmed deposit to the payer's ledger once, even when the same logs are read again", async () => {
		const payer = await newAccount(net());
		await deposit(net(), payer.wallet, parseEther("25"));

		await runIndexer(net());
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("25"));

		// Same logs again: the cursor is reset and the rows are marked uncredited.
		await env.DB.prepare("DELETE FROM chain_cursor").run();
		await env.DB.prepare("UPDATE deposits SET credited_at = NULL").run();
		await runIndexer(net());
		await runIndexer(net());
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("25"));
		const rows = await depositsOf(openDb(env.DB), payer.address);
		expect(rows).toHaveLength(1);
		expect(rows[0]?.amount).toBe(parseEther("25"));
	});

	it("credits a deposit again when a rollback reversed it, stopped before deleting its row, and the chain came back", async () => {
		const payer = await newAccount(net());
		await deposit(net(), payer.wallet, parseEther("7"));
		await runIndexer(net());
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("7"));
		const db = openDb(env.DB);
		// The rollback's first step (credits reversed), then it stopped; the cursor's block is unchanged.
		await reverseDeposits(indexerEnv(net()) as never, db, await depositsOf(db, payer.address));
		expect((await ledger(payer.address).account()).balance).toBe(0n);
		const listed = async () =>
			(await callGateway("/v1/account/deposits?include=reversed", { headers: await sessionHeader(payer.address) })).json();
		const reversed = await listed();
		expect(reversed.reversed).toHaveLength(1);
		// Its row is still there (uncredited): listed once, as reversed, not as waiting for confirmations.
		expect(reversed.data).toMatchObject([
			{
				amount: parseEther("7").toString(),
				credited: false,
				status: "reversed",
				reversal: { reversed: parseEther("7").toString() },
			},
		]);
		expect(reversed.data).toHaveLength(1);
		await runIndexer(net());
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("7"));
		// Credited again, it is no longer listed as reversed.
		const after = await listed();
		expect(after.data).toMatchObject([
			{ amount: parseEther("7").toString(), credited: true, status: "credited", reversal: null },
		]);
		expect(after.reversed).toEqual([]);
	});

	it("lists a reversal recorded without its deposit's transaction only in 'reversed', which cannot place it", async () => {
		const payer = await newAccount(net(), 0n);
		// As the indexer recorded reversals before it kept the deposit's transaction.
		await env.DB.prepare(
			"INSERT INTO credit_reversals (credit_id, chain_id, payer, amount, reversed, shortfall) VALUES ('deposit:old', ?, ?, '5', '5', '0')",
		)
			.bind(net().chainId, payer.address)
			.run();
		const listed = (await callGateway("/v1/account/deposits", { headers: await sessionHeader(payer.address) })).json();
		expect(listed).toEqual({
			object: "list",
			data: [],
			reversed: [{ credit_id: "deposit:old", tx_hash: null, block_number: null, amount: "5", reversed: "5", shortfall: "0" }],
		});
	});

	it("waits for the configured confirmations before crediting", async () => {
		const payer = await newAccount(net());
		await deposit(net(), payer.wallet, parseEther("3"));
		await runIndexer(net(), { CONFIRMATIONS: "2" });
		expect((await ledger(payer.address).account()).balance).toBe(0n);
		await testClient(net()).mine({ blocks: 2 });
		await runIndexer(net(), { CONFIRMATIONS: "2" });
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("3"));
	});

	it("credits the payer named in the deposit, not the sender", async () => {
		const sender = await newAccount(net());
		const beneficiary = await newAccount(net(), 0n);
		await deposit(net(), sender.wallet, parseEther("7"), beneficiary.address);
		await runIndexer(net());
		expect((await ledger(beneficiary.address).account()).balance).toBe(parseEther("7"));
		expect((await ledger(sender.address).account()).balance).toBe(0n);
	});
});

describe("indexer: POST /run", () => {
	it("runs at once for a caller with the run token and refuses everyone else", async () => {
		const payer = await newAccount(net());
		await deposit(net(), payer.wallet, parseEther("2"));
		const run = (authorization?: string) =>
			indexer.fetch(
				new Request("https://indexer.test/run", { method: "POST", headers: authorization ? { authorization } : {} }),
				{ ...(indexerEnv(net()) as object), RUN_TOKEN: "run-token-0123456789" } as never,
				createExecutionContext(),
			);
		expect((await run()).status).toBe(401);
		expect((await run("Bearer wrong")).status).toBe(401);
		expect((await ledger(payer.address).account()).balance).toBe(0n);
		const res = await run("Bearer run-token-0123456789");
		expect(res.status).toBe(200);
		expect(((await res.json()) as { credited: number }).credited).toBe(1);
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("2"));
	});
});

describe("indexer: one run at a time", () => {
	it("skips a run while another holds the chain's lease, and takes over a lease that expired", async () => {
		const payer = await newAccount(net());
		await deposit(net(), payer.wallet, parseEther("1"));
		const name = `indexer:${net().chainId}`;
		await env.DB.prepare("INSERT OR REPLACE INTO job_leases (name, holder, expires_at) VALUES (?, 'other-run', ?)")
			.bind(name, Date.now() + 60_000)
			.run();
		expect(await runIndexerDirect(indexerEnv(net()))).toMatchObject({ busy: true, credited: 0 });
		expect((await ledger(payer.address).account()).balance).toBe(0n);

		await env.DB.prepare("UPDATE job_leases SET expires_at = ? WHERE name = ?")
			.bind(Date.now() - 1, name)
			.run();
		expect(await runIndexerDirect(indexerEnv(net()))).toMatchObject({ busy: false, credited: 1 });
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("1"));
		// Released at the end of the run.
		expect(await env.DB.prepare("SELECT count(*) AS n FROM job_leases WHERE name = ?").bind(name).first("n")).toBe(0);
	});

	it("stops a run that outlived its lease and was taken over, before it writes anything", async () => {
		const payer = await newAccount(net());
		await deposit(net(), payer.wallet, parseEther("3"));
		const name = `indexer:${net().chainId}`;
		const cursorBefore = await env.DB.prepare("SELECT last_block FROM chain_cursor").first("last_block");
		// While this run reads its range, its lease expires and another run takes it.
		const takeOver = async () => {
			await env.DB.prepare("UPDATE job_leases SET holder = 'newer-run', expires_at = ? WHERE name = ?")
				.bind(Date.now() + 60_000, name)
				.run();
		};
		await expect(runIndexerDirect(indexerEnv(net()), { beforeWrite: takeOver })).rejects.toThrow("lost the lease");
		expect(await env.DB.prepare("SELECT last_block FROM chain_cursor").first("last_block")).toBe(cursorBefore);
		expect(await depositsOf(openDb(env.DB), payer.address)).toEqual([]);
		expect((await ledger(payer.address).account()).balance).toBe(0n);
		// The newer run's lease is left to it; once it has ended, the next run indexes the deposit.
		await env.DB.prepare("DELETE FROM job_leases WHERE name = ?").bind(name).run();
		await runIndexer(net());
		expect((await ledger(payer.address).account()).balance).toBe(parseEther("3"));
	});
});
