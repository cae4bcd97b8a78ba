import { env } from "cloudflare:test";
import { getAddress, type Hex, parseEther } from "viem";
import { revenueVaultAbi } from "../../lib/chain/abis.ts";
import { upsertModel } from "../../lib/db/models.ts";
import { insertUsage } from "../../lib/db/usage.ts";
import { db } from "../helpers/fixtures.ts";
import { deposit, type Net, newAccount, publicClient, tokenize } from "./helpers.ts";

// Fixtures of the settler tests: models with usage rows in D1, a funded vault, on-chain reads.

export const EPOCH_MS = 60_000;

/** Hooks of a settler run killed right after broadcasting a settle, its D1 write of "sent" lost too. */
export const killedAfterBroadcast = {
	async afterBroadcast(epoch: number) {
		await env.DB.prepare("UPDATE settler_epochs SET state = 'prepared', nonce = NULL, tx_hashes = '[]' WHERE epoch = ?")
			.bind(epoch)
			.run();
		throw new Error("killed");
	},
};

/** What a newer run does when it finds the settler's lease expired: takes it for itself. */
export async function takeOverLease() {
	await env.DB.prepare("UPDATE job_leases SET holder = 'newer-run', expires_at = ? WHERE name = 'settler'")
		.bind(Date.now() + 60_000)
		.run();
}

/** The newer run ended: its lease is gone. */
export async function endNewerRun() {
	await env.DB.prepare("DELETE FROM job_leases WHERE name = 'settler' AND holder = 'newer-run'").run();
}

/** A tokenized model (registered in D1 unless `withoutToken`) and `n` usage rows of `fee` each, created `at`. */
export async function modelWithUsage(net: Net, n: number, fee: bigint, opts: { at?: number; withoutToken?: boolean } = {}) {
	const creator = await newAccount(net, 0n);
	const { token, repoId } = await tokenize(net, creator.wallet);
	await upsertModel(db(), {
		id: repoId,
		displayName: repoId,
		inputPricePerM: parseEther("2"),
		outputPricePerM: parseEther("6"),
		...(opts.withoutToken ? {} : { tokenAddress: token.toLowerCase() }),
		upstreams: [],
	});
	const createdAt = opts.at ?? Date.now();
	const payer = (await newAccount(net, 0n)).address;
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

/** One more usage row of an existing model: `fee` for `payer`, created `at`. */
export async function addUsage(modelId: string, payer: string, fee: bigint, at: number) {
	await insertUsage(db(), [
		{
			requestId: `req_${crypto.randomUUID()}`,
			keyId: "key_test",
			payer,
			modelId,
			promptTokens: 10,
			completionTokens: 5,
			fee,
			status: "ok",
			usageSource: "upstream",
			createdAt: at,
		},
	]);
}

export async function fundVault(net: Net, amount = parseEther("100")) {
	const funder = await newAccount(net, amount);
	await deposit(net, funder.wallet, amount);
}

export async function settledOnChain(net: Net, token: Hex) {
	return publicClient(net).readContract({
		address: net.addresses.revenueVault,
		abi: revenueVaultAbi,
		functionName: "settledFees",
		args: [getAddress(token)],
	});
}

export async function settledEvents(net: Net, epoch: number) {
	const logs = await publicClient(net).getContractEvents({
		address: net.addresses.revenueVault,
		abi: revenueVaultAbi,
		eventName: "Settled",
		fromBlock: 0n,
	});
	return logs.filter((l) => l.args.epoch === BigInt(epoch));
}
