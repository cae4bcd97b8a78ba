import { SwitchChainError, UserRejectedRequestError } from "viem";
import { getChainId, readContract, signMessage, switchChain, writeContract } from "viem/actions";
import { parseSiweMessage } from "viem/siwe";
import { beforeEach, describe, expect, it, vi } from "vitest";

// The wallet page's contract writes go out only from a wallet on the deployment's chain
// (GET /v1/chain): the same deployer key gives the same contract addresses on a testnet and
// on mainnet, so a wallet on the other one would send real transactions there. viem's
// actions, the browser wallet and the gateway are stood in.

const HASH = `0x${"11".repeat(32)}`;
const TOKEN = `0x${"22".repeat(20)}` as const;
const ACCOUNT = `0x${"33".repeat(20)}` as const;
const DEPLOYMENT = 31337;

/** The chain the stand-in wallet is on, and what it does when asked to switch. */
let walletChain = DEPLOYMENT;
let onSwitch: (id: number) => void = (id) => {
	walletChain = id;
};

vi.mock("viem/actions", async (importOriginal) => ({
	...(await importOriginal<typeof import("viem/actions")>()),
	getChainId: vi.fn(async () => walletChain),
	switchChain: vi.fn(async (_client: unknown, { id }: { id: number }) => onSwitch(id)),
	readContract: vi.fn(async (_client: unknown, { functionName }: { functionName: string }) =>
		functionName === "allowance" || functionName === "balanceOf" ? 0n : `0x${"44".repeat(20)}`,
	),
	getBlock: vi.fn(async () => ({ timestamp: 1n })),
	writeContract: vi.fn(async () => HASH),
	signMessage: vi.fn(async () => `0x${"55".repeat(65)}`),
	waitForTransactionReceipt: vi.fn(async () => ({ status: "success", transactionHash: HASH, logs: [] })),
}));
vi.mock("../../web/src/data/wallet.ts", async (importOriginal) => ({
	...(await importOriginal<typeof import("../../web/src/data/wallet.ts")>()),
	provider: () => ({ request: async () => null }),
	requireAddress: () => ACCOUNT,
	walletChainId: () => walletChain,
	readWalletChain: async () => {},
	saveSession: vi.fn(),
}));

const { claim, contractsOf, deposit, ensureWalletChain, signInWithEthereum, trade } = await import("../../web/src/data/chain.ts");
const { askDeploymentChainAgain } = await import("../../web/src/data/network.ts");

/** What GET /v1/chain answers. */
let chainAnswer: () => Response = () => Response.json({ object: "chain", chain_id: DEPLOYMENT });
/** The SIWE messages sent to POST /v1/auth/verify. */
let verified: string[] = [];
const gateway = vi.fn(async (path: string, init?: RequestInit) => {
	if (path === "/v1/chain") return chainAnswer();
	if (path === "/v1/auth/nonce") return Response.json({ nonce: "0123456789abcdef0123456789abcdef", expires_at: 0 });
	if (path === "/v1/auth/verify") {
		verified.push((JSON.parse(String(init?.body)) as { message: string }).message);
		return Response.json({ token: "mdxs_x", payer: ACCOUNT, expires_at: 4_000_000_000 });
	}
	return Response.json({ error: { message: "Unknown path", code: "not_found" } }, { status: 404 });
});

beforeEach(() => {
	vi.clearAllMocks();
	vi.stubGlobal("dispatchEvent", () => true);
	vi.stubGlobal("fetch", gateway);
	vi.stubGlobal("location", { host: "dashboard.test", origin: "https://dashboard.test" });
	verified = [];
	walletChain = DEPLOYMENT;
	onSwitch = (id) => {
		walletChain = id;
	};
});

describe("a contract write from a wallet on another chain", () => {
	it("sends nothing, and says which network to switch to, when the wallet declines to switch", async () => {
		walletChain = 1;
		onSwitch = () => {
			throw new UserRejectedRequestError(new Error("User rejected the request."));
		};
		await expect(claim(TOKEN)).rejects.toThrow(
			"Switch your wallet to the local development chain (chain id 31337), where Modeldex runs: it is on Ethereum (chain id 1) (you declined the switch). Nothing was sent.",
		);
		expect(switchChain).toHaveBeenCalledWith(expect.anything(), { id: DEPLOYMENT });
		expect(writeContract).not.toHaveBeenCalled();
	});

	it("sends nothing when the wallet does not know the network", async () => {
		walletChain = 11155111;
		onSwitch = () => {
			throw new SwitchChainError(new Error("Unrecognized chain ID"));
		};
		await expect(claim(TOKEN)).rejects.toThrow(/chain id 31337.*does not know that network.*Nothing was sent/);
		expect(writeContract).not.toHaveBeenCalled();
	});

	it("sends nothing when the wallet says it switched but is still on the other chain", async () => {
		walletChain = 8453;
		onSwitch = () => {};
		await expect(claim(TOKEN)).rejects.toThrow(/still on Base \(chain id 8453\)\. Nothing was sent/);
		expect(writeContract).not.toHaveBeenCalled();
	});

	it("reads nothing on the other chain before a trade or deposit it will not send", async () => {
		walletChain = 1;
		onSwitch = () => {
			throw new UserRejectedRequestError(new Error("User rejected the request."));
		};
		const onStep = vi.fn();
		await expect(
			trade({ token: TOKEN, account: ACCOUNT, side: "buy", amount: 5n, minOut: 1n, quotedOn: 1, onStep }),
		).rejects.toThrow(/Switch your wallet/);
		await expect(deposit({ token: TOKEN, account: ACCOUNT, amount: 5n, onStep })).rejects.toThrow(/Switch your wallet/);
		expect(readContract).not.toHaveBeenCalled();
		expect(writeContract).not.toHaveBeenCalled();
		expect(onStep).not.toHaveBeenCalled();
	});

	it("sends on the deployment's chain once the wallet switched, with that chain for viem to check again", async () => {
		walletChain = 1;
		// Nothing claimed (no Claimed event in this stand-in receipt): 0.
		await expect(claim(TOKEN)).resolves.toBe(0n);
		expect(switchChain).toHaveBeenCalledTimes(1);
		expect(writeContract).toHaveBeenCalledTimes(1);
		expect(vi.mocked(writeContract).mock.calls[0]?.[1]).toMatchObject({ chain: { id: DEPLOYMENT }, account: ACCOUNT });
	});

	it("sends no trade whose price was quoted on the network the wallet just left", async () => {
		walletChain = 1;
		const onStep = vi.fn();
		// The quote (and minOut) came from chain 1; the wallet is switched to the deployment's.
		await expect(
			trade({ token: TOKEN, account: ACCOUNT, side: "buy", amount: 5n, minOut: 1n, quotedOn: 1, onStep }),
		).rejects.toThrow(/changed networks after the price was quoted/);
		expect(switchChain).toHaveBeenCalledTimes(1);
		expect(writeContract).not.toHaveBeenCalled();
		// Quoted again on the deployment's chain, it goes out.
		await trade({ token: TOKEN, account: ACCOUNT, side: "buy", amount: 5n, minOut: 1n, quotedOn: DEPLOYMENT, onStep });
		expect(vi.mocked(writeContract).mock.calls.at(-1)?.[1]).toMatchObject({ functionName: "buy" });
	});

	it("asks nothing of a wallet already on the deployment's chain, and asks the gateway only once", async () => {
		await claim(TOKEN);
		await claim(TOKEN);
		expect(switchChain).not.toHaveBeenCalled();
		expect(writeContract).toHaveBeenCalledTimes(2);
		// Earlier tests of this file already asked it: the answer is kept.
		expect(gateway).not.toHaveBeenCalled();
	});
});

describe("ensureWalletChain", () => {
	const client = {} as Parameters<typeof ensureWalletChain>[0];

	it("checks nothing when the gateway names no chain", async () => {
		walletChain = 1;
		await ensureWalletChain(client, null);
		expect(getChainId).not.toHaveBeenCalled();
	});
});

describe("contractsOf", () => {
	it("reads a token's contracts again on another chain", async () => {
		walletChain = 1;
		await contractsOf(TOKEN);
		await contractsOf(TOKEN);
		expect(readContract).toHaveBeenCalledTimes(3);
		walletChain = 5;
		await contractsOf(TOKEN);
		expect(readContract).toHaveBeenCalledTimes(6);
	});
});

describe("Sign-In with Ethereum from a wallet on another chain", () => {
	it("switches the wallet to the deployment's chain first, and signs for that chain", async () => {
		walletChain = 1;
		await signInWithEthereum();
		expect(switchChain).toHaveBeenCalledWith(expect.anything(), { id: DEPLOYMENT });
		expect(vi.mocked(switchChain).mock.invocationCallOrder[0]).toBeLessThan(
			vi.mocked(signMessage).mock.invocationCallOrder[0] ?? 0,
		);
		expect(verified).toHaveLength(1);
		expect(parseSiweMessage(verified[0] ?? "").chainId).toBe(DEPLOYMENT);
	});

	it("signs nothing, and says which network to switch to, when the wallet declines to switch", async () => {
		walletChain = 8453;
		onSwitch = () => {
			throw new UserRejectedRequestError(new Error("User rejected the request."));
		};
		await expect(signInWithEthereum()).rejects.toThrow(
			"Switch your wallet to the local development chain (chain id 31337), where Modeldex runs: it is on Base (chain id 8453) (you declined the switch). Nothing was signed.",
		);
		expect(signMessage).not.toHaveBeenCalled();
		expect(verified).toEqual([]);
	});

	it("signs nothing when the gateway cannot say which chain it runs on", async () => {
		chainAnswer = () =>
			Response.json(
				{ error: { message: "The gateway's CHAIN_ID setting is not a chain id.", code: "internal_error" } },
				{ status: 500 },
			);
		try {
			await expect(askDeploymentChainAgain()).rejects.toThrow();
			await expect(signInWithEthereum()).rejects.toThrow(
				"Could not read which network Modeldex runs on, so nothing was signed: The gateway's CHAIN_ID setting is not a chain id.",
			);
			expect(signMessage).not.toHaveBeenCalled();
			expect(verified).toEqual([]);
		} finally {
			chainAnswer = () => Response.json({ object: "chain", chain_id: DEPLOYMENT });
			await askDeploymentChainAgain();
		}
	});
});
