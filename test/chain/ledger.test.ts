import { describe, expect, it } from "vitest";
import { depositCreditSource } from "../../lib/money.ts";
import { newKey, PACA } from "../helpers/fixtures.ts";
import { ledger, spend } from "./helpers.ts";

describe("AccountLedger.reverseCredit", () => {
	it("takes back an unspent credit once", async () => {
		const { payer } = await newKey({ credit: 0n });
		await ledger(payer).credit("deposit:a", 10n * PACA, "deposit");
		const first = await ledger(payer).reverseCredit("deposit:a");
		expect(first).toMatchObject({ applied: true, reversed: 10n * PACA, shortfall: 0n, balance: 0n });
		const second = await ledger(payer).reverseCredit("deposit:a");
		expect(second).toMatchObject({ applied: false, reversed: 10n * PACA, balance: 0n });
		expect((await ledger(payer).account()).totalCredited).toBe(0n);
	});

	it("credits a reversed deposit again when it comes back (a reorg flip-flop), never twice while credited", async () => {
		const { payer, key } = await newKey({ credit: 0n });
		const source = depositCreditSource("0xa", 0);
		await ledger(payer).credit("deposit:flip", 10n * PACA, source);
		await spend(payer, key, 6n * PACA);
		expect(await ledger(payer).reverseCredit("deposit:flip")).toMatchObject({ reversed: 4n * PACA, shortfall: 6n * PACA });
		// Back: what the reversal took comes back (the spent part was never taken), once.
		expect(await ledger(payer).credit("deposit:flip", 10n * PACA, source)).toMatchObject({ applied: true, balance: 4n * PACA });
		expect((await ledger(payer).credit("deposit:flip", 10n * PACA, source)).applied).toBe(false);
		expect((await ledger(payer).account()).totalCredited).toBe(10n * PACA);
		// And it can leave again.
		expect(await ledger(payer).reverseCredit("deposit:flip")).toMatchObject({ applied: true, reversed: 4n * PACA, balance: 0n });
	});

	it("keeps admin credit out of withdrawals when a reversed deposit comes back", async () => {
		const { payer } = await newKey({ credit: 0n });
		const source = depositCreditSource("0xb", 0);
		await ledger(payer).credit("admin:gift2", 50n * PACA, "admin");
		await ledger(payer).credit("deposit:0xb#0", 100n * PACA, source);
		expect(await ledger(payer).lockWithdrawal("0x21", 100n * PACA)).toEqual({ ok: true, available: 0n });
		// The reorg takes what is left (the admin credit's 50) and the deposit comes back with it.
		await ledger(payer).reverseCredit("deposit:0xb#0");
		expect((await ledger(payer).credit("deposit:0xb#0", 100n * PACA, source)).balance).toBe(50n * PACA);
		// The 50 is the admin credit again: spendable, not withdrawable through the vault.
		expect(await ledger(payer).account()).toMatchObject({ balance: 50n * PACA, withdrawable: 0n });
	});

	it("keeps a reversed credit that is no deposit used: crediting it again is refused", async () => {
		const { payer } = await newKey({ credit: 0n });
		await ledger(payer).credit("admin:once", 5n * PACA, "admin");
		await ledger(payer).reverseCredit("admin:once");
		expect((await ledger(payer).credit("admin:once", 5n * PACA, "admin")).applied).toBe(false);
		expect((await ledger(payer).account()).balance).toBe(0n);
	});

	it("never drives the balance below zero: what was spent is reported as a shortfall", async () => {
		const { payer, key } = await newKey({ credit: 0n });
		await ledger(payer).credit("deposit:b", 10n * PACA, "deposit");
		await spend(payer, key, 6n * PACA);
		const result = await ledger(payer).reverseCredit("deposit:b");
		expect(result).toMatchObject({ applied: true, reversed: 4n * PACA, shortfall: 6n * PACA, balance: 0n });
	});

	it("leaves no more unbacked credit than the balance, so a later deposit is all withdrawable", async () => {
		const { payer } = await newKey({ credit: 0n });
		await ledger(payer).credit("deposit:0xf#0", 100n * PACA, depositCreditSource("0xf", 0));
		await ledger(payer).credit("admin:gift", 50n * PACA, "admin");
		expect(await ledger(payer).lockWithdrawal("0x20", 100n * PACA)).toEqual({ ok: true, available: 0n });
		// The reorg takes the deposit back: only the 50 left (the admin credit) can go, the rest is a shortfall.
		expect(await ledger(payer).reverseCredit("deposit:0xf#0")).toMatchObject({
			reversed: 50n * PACA,
			shortfall: 50n * PACA,
			balance: 0n,
		});
		// Nothing is left of the admin credit to keep back from a new deposit.
		await ledger(payer).credit("deposit:0xf#1", 100n * PACA, depositCreditSource("0xf", 1));
		expect(await ledger(payer).account()).toMatchObject({ balance: 100n * PACA, withdrawable: 100n * PACA });
		expect(await ledger(payer).lockWithdrawal("0x21", 100n * PACA)).toEqual({ ok: true, available: 0n });
	});

	it("ignores an id that was never credited", async () => {
		const { payer } = await newKey({ credit: 0n });
		expect(await ledger(payer).reverseCredit("deposit:none")).toMatchObject({ applied: false, reversed: 0n, shortfall: 0n });
	});
});

describe("AccountLedger.lockWithdrawal", () => {
	it("lets only deposited credit leave through the vault, and spends admin credit first", async () => {
		const { payer, key } = await newKey({ credit: 0n });
		await ledger(payer).credit("deposit:0xd#0", 10n * PACA, depositCreditSource("0xd", 0));
		await ledger(payer).credit("admin:promo", 5n * PACA, "admin");
		// 15 PACA to spend, 10 of them in the vault's escrow.
		expect(await ledger(payer).lockWithdrawal("0x10", 11n * PACA)).toEqual({ ok: false, available: 10n * PACA });
		await spend(payer, key, 3n * PACA);
		expect(await ledger(payer).lockWithdrawal("0x11", 11n * PACA)).toEqual({ ok: false, available: 10n * PACA });
		// The admin credit is used up, and 2 PACA of the deposit.
		await spend(payer, key, 4n * PACA);
		expect(await ledger(payer).lockWithdrawal("0x12", 9n * PACA)).toEqual({ ok: false, available: 8n * PACA });
		expect(await ledger(payer).lockWithdrawal("0x12", 8n * PACA)).toEqual({ ok: true, available: 0n });
	});

	it("keeps admin credit granted after spending out of withdrawals too", async () => {
		const { payer, key } = await newKey({ credit: 0n });
		await ledger(payer).credit("deposit:0xe#0", 10n * PACA, depositCreditSource("0xe", 0));
		await spend(payer, key, 8n * PACA);
		await ledger(payer).credit("admin:later", 5n * PACA, "admin");
		// 7 PACA to spend, of which only the deposit's last 2 are in the vault.
		expect(await ledger(payer).account()).toMatchObject({ available: 7n * PACA, withdrawable: 2n * PACA });
		expect(await ledger(payer).lockWithdrawal("0x13", 3n * PACA)).toEqual({ ok: false, available: 2n * PACA });
	});

	it("locks once per id, and only what is available", async () => {
		const { payer } = await newKey({ credit: 0n });
		await ledger(payer).credit("deposit:w", 10n * PACA, "deposit");
		expect(await ledger(payer).lockWithdrawal("0x01", 4n * PACA)).toEqual({ ok: true, available: 6n * PACA });
		// The same id again: no second debit.
		expect(await ledger(payer).lockWithdrawal("0x01", 4n * PACA)).toEqual({ ok: true, available: 6n * PACA });
		expect(await ledger(payer).lockWithdrawal("0x02", 7n * PACA)).toEqual({ ok: false, available: 6n * PACA });
		expect((await ledger(payer).account()).balance).toBe(6n * PACA);
		expect(await ledger(payer).withdrawalLock("0x01")).toMatchObject({ amount: 4n * PACA });
		expect(await ledger(payer).withdrawalLock("0x02")).toBeNull();
	});
});

describe("AccountLedger.refuseWithdrawal", () => {
	it("keeps a lock of the refused amount, releases one of another amount, and locks the id never again", async () => {
		const { payer } = await newKey({ credit: 0n });
		await ledger(payer).credit("deposit:r", 10n * PACA, "deposit");
		await ledger(payer).lockWithdrawal("0x31", 4n * PACA);
		expect(await ledger(payer).refuseWithdrawal("0x31", 4n * PACA)).toEqual({ refused: false, released: 0n });
		expect(await ledger(payer).withdrawalLock("0x31")).toMatchObject({ amount: 4n * PACA });
		expect(await ledger(payer).refuseWithdrawal("0x31", 1n * PACA)).toEqual({ refused: true, released: 4n * PACA });
		expect(await ledger(payer).withdrawalLock("0x31")).toBeNull();
		expect((await ledger(payer).account()).balance).toBe(10n * PACA);
		expect(await ledger(payer).lockWithdrawal("0x31", 1n * PACA)).toEqual({
			ok: false,
			available: 10n * PACA,
			conflict: "refused",
		});
		// An id never locked: refused, nothing released; a lock arriving later is refused too.
		expect(await ledger(payer).refuseWithdrawal("0x32", 2n * PACA)).toEqual({ refused: true, released: 0n });
		expect(await ledger(payer).refuseWithdrawal("0x32", 2n * PACA)).toEqual({ refused: true, released: 0n });
		expect(await ledger(payer).lockWithdrawal("0x32", 2n * PACA)).toMatchObject({ ok: false, conflict: "refused" });
		expect((await ledger(payer).account()).balance).toBe(10n * PACA);
	});

	it("answers a lock of another amount under a locked id with a conflict, not a debit", async () => {
		const { payer } = await newKey({ credit: 0n });
		await ledger(payer).credit("deposit:c", 10n * PACA, "deposit");
		await ledger(payer).lockWithdrawal("0x33", 4n * PACA);
		expect(await ledger(payer).lockWithdrawal("0x33", 2n * PACA)).toEqual({
			ok: false,
			available: 6n * PACA,
			conflict: "amount",
		});
		expect((await ledger(payer).account()).balance).toBe(6n * PACA);
	});
});
