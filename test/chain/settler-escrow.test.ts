import { parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { epochRow } from "../../lib/db/chain.ts";
import { runSettler } from "../../workers/settler/settler.ts";
import { db } from "../helpers/fixtures.ts";
import { callGateway } from "../helpers/gateway.ts";
import { deployment, fundedPayer, pacaOf, sessionHeader, settlerEnv } from "./helpers.ts";
import { EPOCH_MS, fundVault, modelWithUsage, settledOnChain } from "./settler-fixtures.ts";

// An epoch whose fees exceed what the vault holds (credit an admin granted was spent: no
// PACA backs it) cannot settle until the operator funds the vault. The settler says so,
// and pays withdrawals meanwhile instead of failing the whole run.

const net = () => deployment("escrow");

describe("settler: an epoch the vault's escrow cannot cover", () => {
	it("waits for the vault to be funded, says by how much, and still pays withdrawals", async () => {
		const payer = await fundedPayer(net(), parseEther("2"));
		const withdrawal = await callGateway("/v1/account/withdrawals", {
			headers: await sessionHeader(payer.address),
			json: { amount: parseEther("2").toString() },
		});
		expect(withdrawal.status).toBe(201);
		// 5 PACA of fees against 2 PACA in escrow.
		const { token, epoch } = await modelWithUsage(net(), 1, parseEther("5"));
		const closeAt = (epoch + 1) * EPOCH_MS + 1_000;
		const before = await pacaOf(net(), payer.address);

		const blocked = await runSettler(settlerEnv(net()), closeAt);
		expect(blocked.confirmed).toEqual([]);
		expect(blocked.underfunded).toMatchObject({ epoch, needed: parseEther("5"), available: parseEther("2") });
		expect(blocked.withdrawalsPaid).toBe(1);
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("2"));
		expect((await epochRow(db(), epoch))?.state).toBe("prepared");

		await fundVault(net(), parseEther("5"));
		const settled = await runSettler(settlerEnv(net()), closeAt + 60_000);
		expect(settled.confirmed).toEqual([epoch]);
		expect(settled.underfunded).toBeNull();
		expect(await settledOnChain(net(), token)).toBe(parseEther("5"));
	});
});
