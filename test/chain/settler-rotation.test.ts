import { env } from "cloudflare:test";
import { type Hex, keccak256, parseEther, parseGwei } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { revenueVaultAbi } from "../../lib/chain/abis.ts";
import { publicClientFor } from "../../lib/chain/client.ts";
import { readChainConfig } from "../../lib/chain/config.ts";
import { epochRow, insertWithdrawal } from "../../lib/db/chain.ts";
import { readSettlerConfig } from "../../workers/settler/env.ts";
import type { SettlerContext } from "../../workers/settler/epoch.ts";
import { runSettler } from "../../workers/settler/settler.ts";
import { rebroadcastIfForgotten } from "../../workers/settler/transactions.ts";
import { db } from "../helpers/fixtures.ts";
import { callGateway } from "../helpers/gateway.ts";
import {
	deployment,
	fixture,
	fundedPayer,
	newAccount,
	pacaOf,
	publicClient,
	send,
	sessionHeader,
	settlerEnv,
	walletFor,
} from "./helpers.ts";
import { EPOCH_MS, fundVault, modelWithUsage, settledOnChain } from "./settler-fixtures.ts";

// The operator rotates the settler's key: SETTLER_ROLE goes to a new account and is taken from the old
// one, and SETTLER_PRIVATE_KEY becomes the new key. D1 still keeps what the old key signed and recorded
// "sent". Here such a transaction was never broadcast (the RPC failed the send, test/node/rpc-faults.ts,
// as a crash between D1's write and the broadcast would leave it): the node does not know it. Its bytes
// must not go out again from the new key's runs (its nonce is the old account's; the vault refuses the
// old key now, so they would only spend gas), and what it was for is sent anew from the new key.

const net = () => deployment("settler-rotation");
const faults = `${fixture().faultyRpcUrl}/settler-rotation`;
const client = () => publicClient(net());
const vault = () => ({ address: net().addresses.revenueVault, abi: revenueVaultAbi }) as const;

/** A fresh account holding SETTLER_ROLE. */
async function settlerKey() {
	const account = await newAccount(net(), 0n);
	await setRole("grantRole", account.address);
	return account;
}

async function setRole(change: "grantRole" | "revokeRole", account: Hex) {
	const role = await client().readContract({ ...vault(), functionName: "SETTLER_ROLE" });
	await send(net(), walletFor(net(), fixture().adminKey), { ...vault(), functionName: change, args: [role, account] });
}

function envWith(key: Hex, vars: Record<string, string> = {}) {
	return { ...(settlerEnv(net(), vars) as object), SETTLER_PRIVATE_KEY: key } as never;
}

/** A settler run with `key` whose every eth_sendRawTransaction fails: what it signs is recorded "sent" and never broadcast. */
async function runWithoutBroadcast(key: Hex, now: number) {
	const set = await fetch(`${faults}/__faults`, {
		method: "POST",
		body: JSON.stringify({ fail: [{ method: "eth_sendRawTransaction" }] }),
	});
	expect(set.ok).toBe(true);
	try {
		return await runSettler(envWith(key, { RPC_URL: faults }), now);
	} finally {
		await fetch(`${faults}/__faults`, { method: "DELETE" });
	}
}

const nonceOf = (address: Hex) => client().getTransactionCount({ address, blockTag: "pending" });
const known = (hash: Hex) =>
	client()
		.getTransaction({ hash })
		.then(() => true)
		.catch(() => false);

describe("settler: after the settler key was rotated", () => {
	it("pays a withdrawal the old key signed and the node never had from the new key, sending none of the old key's bytes", async () => {
		const [old, current] = [await settlerKey(), await settlerKey()];
		const payer = await fundedPayer(net(), parseEther("2"));
		const res = await callGateway("/v1/account/withdrawals", {
			headers: await sessionHeader(payer.address),
			json: { amount: parseEther("2").toString() },
		});
		const { id } = res.json() as { id: Hex };
		const before = await pacaOf(net(), payer.address);
		const now = Date.now();

		await runWithoutBroadcast(old.key, now);
		const signed = await env.DB.prepare("SELECT state, tx_hash, nonce FROM withdrawals WHERE id = ?")
			.bind(id)
			.first<{ state: string; tx_hash: Hex; nonce: number }>();
		expect(signed?.state).toBe("sent");
		expect(await known(signed?.tx_hash as Hex)).toBe(false);

		// The rotation. The new account has sent nothing yet: its nonce is at most the old payment's.
		await setRole("revokeRole", old.address);
		const oldNonce = await nonceOf(old.address);
		expect(await nonceOf(current.address)).toBeLessThanOrEqual(signed?.nonce ?? -1);

		const run = await runSettler(envWith(current.key), now + 1_000);
		expect(run.withdrawalPending).toBeNull();
		expect(run.withdrawalsPaid).toBe(1);
		expect(await known(signed?.tx_hash as Hex)).toBe(false);
		expect(await nonceOf(old.address)).toBe(oldNonce);
		const paid = await env.DB.prepare("SELECT state, tx_hash FROM withdrawals WHERE id = ?")
			.bind(id)
			.first<{ state: string; tx_hash: Hex }>();
		expect(paid?.state).toBe("paid");
		expect((await client().getTransaction({ hash: paid?.tx_hash as Hex })).from.toLowerCase()).toBe(current.address);
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("2"));
	});

	it("pays a withdrawal the old key sent before its bytes were kept (migration 0003), far above the new key's nonce", async () => {
		const [old, current] = [await settlerKey(), await settlerKey()];
		const payer = await fundedPayer(net(), parseEther("1"));
		const res = await callGateway("/v1/account/withdrawals", {
			headers: await sessionHeader(payer.address),
			json: { amount: parseEther("1").toString() },
		});
		const { id } = res.json() as { id: Hex };
		const before = await pacaOf(net(), payer.address);
		const now = Date.now();
		await runWithoutBroadcast(old.key, now);
		// As a row from before migration 0003 reads: no signed bytes. The old account had sent many more.
		await env.DB.prepare("UPDATE withdrawals SET raw_tx = NULL, nonce = 57 WHERE id = ?").bind(id).run();
		await setRole("revokeRole", old.address);
		expect(await nonceOf(current.address)).toBeLessThan(57);

		// Its signer cannot be told, so it waits as the current key's would; once stale it is replaced.
		const stale = now + readSettlerConfig(settlerEnv(net())).replaceAfterMs + 1_000;
		const run = await runSettler(envWith(current.key), stale);
		// Before: replaced at nonce 57 from the new key, which nothing below would ever let be mined, and
		// every settle and withdrawal after it waited behind it for good.
		expect(run.withdrawalPending).toBeNull();
		expect(run.withdrawalsPaid).toBe(1);
		const paid = await env.DB.prepare("SELECT state, tx_hash, nonce FROM withdrawals WHERE id = ?")
			.bind(id)
			.first<{ state: string; tx_hash: Hex; nonce: number }>();
		expect(paid?.state).toBe("paid");
		expect(paid?.nonce).toBeLessThan(57);
		expect((await client().getTransaction({ hash: paid?.tx_hash as Hex })).from.toLowerCase()).toBe(current.address);
		expect((await pacaOf(net(), payer.address)) - before).toBe(parseEther("1"));
	});

	it("settles an epoch whose settle the old key signed and the node never had from the new key, sending none of the old key's bytes", async () => {
		await fundVault(net());
		const [old, current] = [await settlerKey(), await settlerKey()];
		const { token, epoch } = await modelWithUsage(net(), 1, parseEther("3"));
		const closeAt = (epoch + 1) * EPOCH_MS + 1_000;

		const failed = await runWithoutBroadcast(old.key, closeAt);
		expect(failed.pending).toBe(epoch);
		const signed = await epochRow(db(), epoch);
		expect(signed?.state).toBe("sent");
		const [oldHash] = JSON.parse(signed?.txHashes ?? "[]") as Hex[];
		expect(await known(oldHash as Hex)).toBe(false);

		await setRole("revokeRole", old.address);
		const oldNonce = await nonceOf(old.address);
		expect(await nonceOf(current.address)).toBeLessThanOrEqual(signed?.nonce ?? -1);

		const run = await runSettler(envWith(current.key), closeAt + 1_000);
		expect(run.failed).toBeNull();
		expect(run.confirmed).toEqual([epoch]);
		expect(await known(oldHash as Hex)).toBe(false);
		expect(await nonceOf(old.address)).toBe(oldNonce);
		const confirmedTx = (await epochRow(db(), epoch))?.confirmedTx as Hex;
		expect((await client().getTransaction({ hash: confirmedTx })).from.toLowerCase()).toBe(current.address);
		expect(await settledOnChain(net(), token)).toBe(parseEther("3"));
	});

	it("a rebroadcast sends only the current key's transactions out below its nonce, not those of a key rotated since", async () => {
		const [old, current] = [await newAccount(net(), 0n), await newAccount(net(), 0n)];
		const config = readChainConfig(settlerEnv(net()));
		// One transaction of each key at its nonce 0, recorded as payments out and never broadcast; the old
		// key's first, so a nonce it filled would be taken for the current key's.
		const sign = (key: Hex) =>
			privateKeyToAccount(key).signTransaction({
				type: "eip1559",
				chainId: config.chainId,
				to: old.address,
				value: 1n,
				nonce: 0,
				gas: 21_000n,
				maxFeePerGas: parseGwei("10"),
				maxPriorityFeePerGas: parseGwei("1"),
			});
		const rows = [await sign(old.key), await sign(current.key)].map((raw) => ({ id: keccak256(raw), raw }));
		try {
			for (const { id, raw } of rows) {
				await insertWithdrawal(db(), {
					id,
					payer: old.address,
					amount: 1n,
					state: "sent",
					nonce: 0,
					txHash: keccak256(raw),
					rawTx: raw,
					requestedAt: Date.now(),
				});
			}
			const ctx: SettlerContext = {
				db: db(),
				chain: config,
				settler: readSettlerConfig(settlerEnv(net())),
				client: publicClientFor(config),
				account: privateKeyToAccount(current.key),
				now: Date.now(),
				hooks: {},
				lease: { renew: async () => {} },
				registered: new Map(),
			};

			// A transaction of the current key at nonce 1, forgotten: first the lower nonces D1 keeps out.
			await rebroadcastIfForgotten(ctx, { nonce: 1, raw: null, what: "test" }, 0);
			expect(await known(rows[0]?.id as Hex)).toBe(false);
			expect(await nonceOf(old.address)).toBe(0);
			expect(await known(rows[1]?.id as Hex)).toBe(true);
		} finally {
			for (const { id } of rows) await env.DB.prepare("DELETE FROM withdrawals WHERE id = ?").bind(id).run();
		}
	});
});
