import { encodeAbiParameters, encodeEventTopics } from "viem";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { modelTokenAbi } from "../../lib/chain/abis.ts";

// The wallet page's contract writes, with viem's actions and the browser wallet stood in:
// what a wallet's "Cancel" or "Speed up" turns into.

const HASH = `0x${"11".repeat(32)}`;
const TOKEN = `0x${"22".repeat(20)}` as const;
const ACCOUNT = `0x${"33".repeat(20)}` as const;
let replacement: "cancelled" | "replaced" | "repriced" | null = null;

/** A Claimed(account, amount) log as `emitter` would emit it. */
const claimedLog = (emitter: string, account: string, amount: bigint) => ({
	address: emitter,
	topics: encodeEventTopics({ abi: modelTokenAbi, eventName: "Claimed", args: { account: account as `0x${string}` } }),
	data: encodeAbiParameters([{ type: "uint256" }], [amount]),
	blockNumber: 1n,
	logIndex: 0,
	transactionHash: HASH,
});

vi.mock("viem/actions", async (importOriginal) => ({
	...(await importOriginal<typeof import("viem/actions")>()),
	// The wallet is on the deployment's chain (test/web/chain-switch.test.ts: when it is not).
	getChainId: vi.fn(async () => 31337),
	writeContract: vi.fn(async () => HASH),
	waitForTransactionReceipt: vi.fn(
		async (_client: unknown, opts: { onReplaced?: (r: { reason: string; transactionReceipt: unknown }) => void }) => {
			// The receipt of whatever was mined in its place: a cancel is a successful self-transfer.
			// The claim's receipt carries its Claimed event; one from another token or account is not this claim's.
			const receipt = {
				status: "success",
				transactionHash: HASH,
				logs:
					replacement === "cancelled" ? [] : [claimedLog(TOKEN, ACCOUNT, 1234n), claimedLog(`0x${"99".repeat(20)}`, ACCOUNT, 7n)],
			};
			if (replacement) opts.onReplaced?.({ reason: replacement, transactionReceipt: receipt });
			return receipt;
		},
	),
}));
vi.mock("../../web/src/data/wallet.ts", async (importOriginal) => ({
	...(await importOriginal<typeof import("../../web/src/data/wallet.ts")>()),
	provider: () => ({ request: async () => null }),
	requireAddress: () => ACCOUNT,
}));

const { claim } = await import("../../web/src/data/chain.ts");

describe("a contract write the wallet replaced", () => {
	beforeEach(() => {
		vi.stubGlobal("dispatchEvent", () => true);
		vi.stubGlobal("fetch", async () => Response.json({ object: "chain", chain_id: 31337 }));
	});

	it("fails in plain words when the wallet cancelled it, though the cancel was mined", async () => {
		replacement = "cancelled";
		await expect(claim(TOKEN)).rejects.toThrow("The transaction was cancelled in your wallet: nothing was done.");
	});

	it("fails when the wallet replaced it with a different transaction", async () => {
		replacement = "replaced";
		await expect(claim(TOKEN)).rejects.toThrow(/replaced the transaction with a different one/);
	});

	it("succeeds when the wallet only repriced it (sped up), with the amount its Claimed event names", async () => {
		replacement = "repriced";
		await expect(claim(TOKEN)).resolves.toBe(1234n);
		replacement = null;
		await expect(claim(TOKEN)).resolves.toBe(1234n);
	});
});
