import { env } from "cloudflare:test";
import { getAddress, parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { revenueVaultAbi } from "../../lib/chain/abis.ts";
import { epochRow } from "../../lib/db/chain.ts";
import { openDb } from "../../lib/db/client.ts";
import { upsertModel } from "../../lib/db/models.ts";
import { insertUsage } from "../../lib/db/usage.ts";
import { runSettler as runSettlerDirect } from "../../workers/settler/settler.ts";
import { deployment, deposit, newAccount, publicClient, settlerEnv, tokenize } from "./helpers.ts";

const net = () => deployment("settler");
const EPOCH_MS = 60_000;
const db = () => openDb(env.DB);

/** A tokenized model registered in D1, and `n` usage rows of `fee` each in the current epoch. */
async function modelWithUsage(n: number, fee: bigint) {
	const creator = await newAccount(net(), 0n);
	const { token, repoId } = await tokenize(net(), creator.wallet);
	await upsertModel(db(), {
		id: repoId,
		displayName: repoId,
		inputPricePerM: parseEther("2"),
		outputPricePerM: parseEther("6"),
		tokenAddress: token.toLowerCase(),
		upstreams: [],
	});
	const createdAt = Date.now();
	const payer = (await newAccount(net(), 0n)).address;
	await insertUsage(
		db(),
		Array.from({ length: n }, (_, i) => ({
			requestId: `req_${crypto.randomUUID()}`,
			keyId: "key_test",
			payer,
			modelId: repoId,
			promptTokens: 100 + i,
			completionTokens: 50,
			fee,
			status: "ok" as const,
			usageSource: "upstream" as const,
			createdAt,
		})),
	);
	return { token, repoId, payer, epoch: Math.floor(createdAt / EPOCH_MS) };
}

describe("settler: crash safety", () => {
	it("settles exactly once when killed after broadcasting and before recording anything", async () => {
		const funder = await newAccount(net(), parseEther("100"));
		await deposit(net(), funder.wallet, parseEther("100"));
		const { token, epoch } = await modelWithUsage(3, parseEther("0.5"));
		const closeAt = (epoch + 1) * EPOCH_MS + 1_000;

		// Killed right after the broadcast; the D1 write of "sent" is lost too.
		await expect(
			runSettlerDirect(settlerEnv(net()), closeAt, {
				async afterBroadcast(e) {
					await env.DB.prepare("UPDATE settler_epochs SET state = 'prepared', nonce = NULL, tx_hashes = '[]' WHERE epoch = ?")
						.bind(e)
						.run();
					throw new Error("killed");
				},
			}),
		).rejects.toThrow("killed");

		const result = await runSettlerDirect(settlerEnv(net()), closeAt);
		expect(result.confirmed).toEqual([epoch]);
		const row = await epochRow(db(), epoch);
		expect(row?.state).toBe("confirmed");

		const client = publicClient(net());
		const vault = net().addresses.revenueVault;
		const settled = await client.getContractEvents({ address: vault, abi: revenueVaultAbi, eventName: "Settled", fromBlock: 0n });
		expect(settled.filter((l) => l.args.epoch === BigInt(epoch))).toHaveLength(1);
		expect(
			await client.readContract({ address: vault, abi: revenueVaultAbi, functionName: "settledFees", args: [getAddress(token)] }),
		).toBe(parseEther("1.5"));
		console.log(`settle gas (1 model): ${row?.gasUsed}`);

		// Running again changes nothing.
		const again = await runSettlerDirect(settlerEnv(net()), closeAt);
		expect(again.confirmed).toEqual([]);
	});
});
