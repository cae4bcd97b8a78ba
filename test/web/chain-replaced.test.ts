import { beforeEach, describe, expect, it, vi } from "vitest";

// The wallet page's contract writes, with viem's actions and the browser wallet stood in:
// what a wallet's "Cancel" or "Speed up" turns into.

const HASH = `0x${"11".repeat(32)}`;
const TOKEN = `0x${"22".repeat(20)}` as const;
let replacement: "cancelled" | "replaced" | "repriced" | null = null;

vi.mock("viem/actions", async (importOriginal) => ({
	...(await importOriginal<typeof import("viem/actions")>()),
	// The wallet is on the deployment's chain (test/web/chain-switch.test.ts: when it is not).
	getChainId: vi.fn(async () => 31337),
	writeContract: vi.fn(async () => HASH),
	waitForTransactionReceipt: vi.fn(
		async (_client: unknown, opts: { onReplaced?: (r: { reason: string; transactionReceipt: unknown }) => void }) => {
			// The receipt of whatever was mined in its place: a cancel is a successful self-transfer.
			const receipt = { status: "success", transactionHash: HASH };
			if (replacement) opts.onReplaced?.({ reason: replacement, transactionReceipt: receipt });
			return receipt;
		},
	),
}));
vi.mock("../../web/src/data/wallet.ts", async (importOriginal) => ({
	...(await importOriginal<typeof import("../../web/src/data/wallet.ts")>()),
	provider: () => ({ request: async () => null }),
	requireAddress: () => `0x${"33".repeat(20)}`,
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

	it("succeeds when the wallet only repriced it (sped up)", async () => {
		replacement = "repriced";
		await expect(claim(TOKEN)).resolves.toBeUndefined();
		replacement = null;
		await expect(claim(TOKEN)).resolves.toBeUndefined();
	});
});
