import { env } from "cloudflare:test";
import { parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { epochRow } from "../../lib/db/chain.ts";
import { runSettler as runSettlerDirect } from "../../workers/settler/settler.ts";
import { db } from "../helpers/fixtures.ts";
import { deployment, settlerEnv } from "./helpers.ts";
import {
	addUsage,
	EPOCH_MS,
	fundVault,
	killedAfterBroadcast,
	modelWithUsage,
	settledEvents,
	settledOnChain,
} from "./settler-fixtures.ts";

// The settler's state lives in this file's D1; the tests run in order on one deployment.

describe("settler: crash safety", () => {
	const net = () => deployment("settler");

	it("settles exactly once when killed after broadcasting and before recording anything", async () => {
		await fundVault(net());
		const { token, epoch } = await modelWithUsage(net(), 3, parseEther("0.5"));
		const closeAt = (epoch + 1) * EPOCH_MS + 1_000;

		// Killed right after the broadcast; the D1 write of "sent" is lost too.
		await expect(runSettlerDirect(settlerEnv(net()), closeAt, killedAfterBroadcast)).rejects.toThrow("killed");

		const result = await runSettlerDirect(settlerEnv(net()), closeAt);
		expect(result.confirmed).toEqual([epoch]);
		const row = await epochRow(db(), epoch);
		expect(row?.state).toBe("confirmed");
		expect(await settledEvents(net(), epoch)).toHaveLength(1);
		expect(await settledOnChain(net(), token)).toBe(parseEther("1.5"));
		console.log(`settle gas (1 model, first settlement): ${row?.gasUsed}`);

		// Running again changes nothing.
		const again = await runSettlerDirect(settlerEnv(net()), closeAt);
		expect(again.confirmed).toEqual([]);
	});

	it("after a crash with the transaction recorded but unconfirmed, reads the receipt instead of sending again", async () => {
		const { token, epoch } = await modelWithUsage(net(), 2, parseEther("0.25"), { at: Date.now() + 5 * EPOCH_MS });
		const closeAt = (epoch + 1) * EPOCH_MS + 1_000;
		await expect(
			runSettlerDirect(settlerEnv(net()), closeAt, {
				afterBroadcast() {
					throw new Error("killed");
				},
			}),
		).rejects.toThrow("killed");
		expect((await epochRow(db(), epoch))?.state).toBe("sent");

		const result = await runSettlerDirect(settlerEnv(net()), closeAt);
		expect(result.confirmed).toContain(epoch);
		expect(JSON.parse((await epochRow(db(), epoch))?.txHashes ?? "[]")).toHaveLength(1);
		expect(await settledEvents(net(), epoch)).toHaveLength(1);
		expect(await settledOnChain(net(), token)).toBe(parseEther("0.5"));
	});

	it("skips no epoch after downtime, and settles usage of a model once it has a token", async () => {
		const base = Date.now() + 20 * EPOCH_MS;
		const a = await modelWithUsage(net(), 1, parseEther("0.1"), { at: base });
		const late = await modelWithUsage(net(), 2, parseEther("0.2"), { at: base + EPOCH_MS, withoutToken: true });
		const c = await modelWithUsage(net(), 1, parseEther("0.3"), { at: base + 3 * EPOCH_MS });

		// Down for four epochs, then one run closes all of them in order.
		const result = await runSettlerDirect(settlerEnv(net()), (c.epoch + 1) * EPOCH_MS + 1_000);
		expect(result.confirmed).toEqual([a.epoch, c.epoch]);
		// The epochs between had no usage of a tokenized model: no transaction for them.
		expect(await settledEvents(net(), a.epoch + 1)).toHaveLength(0);
		expect(await settledOnChain(net(), a.token)).toBe(parseEther("0.1"));
		expect(await settledOnChain(net(), c.token)).toBe(parseEther("0.3"));
		expect(JSON.parse((await epochRow(db(), c.epoch))?.skipped ?? "[]")).toEqual([
			{ modelId: late.repoId, reason: "no_token", requests: 2, fees: parseEther("0.4").toString() },
		]);

		// The model gets its token; its waiting usage goes into the next epoch.
		await env.DB.prepare("UPDATE models SET token_address = ? WHERE id = ?").bind(late.token.toLowerCase(), late.repoId).run();
		await runSettlerDirect(settlerEnv(net()), (c.epoch + 2) * EPOCH_MS + 1_000);
		expect(await settledOnChain(net(), late.token)).toBe(parseEther("0.4"));
	});

	it("keeps usage of a token the vault never registered out of the settlement, instead of reverting it", async () => {
		const base = Date.now() + 40 * EPOCH_MS;
		const good = await modelWithUsage(net(), 1, parseEther("0.2"), { at: base });
		const stray = await modelWithUsage(net(), 3, parseEther("0.1"), { at: base });
		const foreign = "0x00000000000000000000000000000000deadbeef";
		await env.DB.prepare("UPDATE models SET token_address = ? WHERE id = ?").bind(foreign, stray.repoId).run();

		const result = await runSettlerDirect(settlerEnv(net()), (good.epoch + 1) * EPOCH_MS + 1_000);
		expect(result.confirmed).toEqual([good.epoch]);
		expect(await settledOnChain(net(), good.token)).toBe(parseEther("0.2"));
		expect(JSON.parse((await epochRow(db(), good.epoch))?.skipped ?? "[]")).toEqual([
			{ modelId: stray.repoId, reason: "not_registered", requests: 3, fees: parseEther("0.3").toString() },
		]);
	});

	it("goes straight to usage it can settle after downtime, past waiting usage of a token the vault does not know", async () => {
		// The test above left usage of an unregistered token waiting 40 epochs on; five epochs
		// after that, usage it can settle.
		const later = await modelWithUsage(net(), 1, parseEther("0.1"), { at: Date.now() + 45 * EPOCH_MS });
		const result = await runSettlerDirect(settlerEnv(net()), (later.epoch + 1) * EPOCH_MS + 1_000);
		expect(result.confirmed).toEqual([later.epoch]);
		// No row for each epoch in between, as there would be if the waiting usage set the pace.
		expect(result.empty).toEqual([]);
		expect(await settledOnChain(net(), later.token)).toBe(parseEther("0.1"));
	});

	it("pays a model whose token changed only its new fees under the new token, not its old cumulative total again", async () => {
		const first = await modelWithUsage(net(), 1, parseEther("0.5"), { at: Date.now() + 50 * EPOCH_MS });
		await runSettlerDirect(settlerEnv(net()), (first.epoch + 1) * EPOCH_MS + 1_000);
		expect(await settledOnChain(net(), first.token)).toBe(parseEther("0.5"));

		// The operator points the model at another token (admin PUT token_address), then it earns 0.2 more.
		const other = await modelWithUsage(net(), 0, 0n);
		await env.DB.prepare("UPDATE models SET token_address = ? WHERE id = ?").bind(other.token.toLowerCase(), first.repoId).run();
		const at = (first.epoch + 2) * EPOCH_MS;
		await addUsage(first.repoId, first.payer, parseEther("0.2"), at);
		const result = await runSettlerDirect(settlerEnv(net()), at + EPOCH_MS + 1_000);
		expect(result.confirmed).toEqual([first.epoch + 2]);
		// The vault pays the difference from what it paid that token: 0.5 of it was the old token's, paid then.
		expect(await settledOnChain(net(), other.token)).toBe(parseEther("0.2"));
		expect(await settledOnChain(net(), first.token)).toBe(parseEther("0.5"));
	});
});
