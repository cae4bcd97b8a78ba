// An anvil node with the Modeldex contracts, a tokenized model with revenue to claim,
// and an EIP-1193 wallet for the page backed by a viem local account on that node.
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import type { Page } from "playwright-core";
import {
	type Address,
	BaseError,
	bytesToHex,
	createTestClient,
	decodeEventLog,
	type Hex,
	hexToBigInt,
	http,
	keccak256,
	parseEther,
	stringToHex,
} from "viem";
import { mnemonicToAccount, privateKeyToAccount } from "viem/accounts";
import { anvil } from "viem/chains";
import { localPacaAbi, modelFactoryAbi, modelSaleAbi, modelTokenAbi, revenueVaultAbi } from "../../lib/chain/abis.ts";
import { type Addresses, connect, deployModeldex, fundLocalPaca } from "../../scripts/deploy-contracts.ts";
import { freePort, root } from "./stack.ts";

// anvil's default accounts (its well-known test mnemonic): #0 deploys and settles,
// #2 tokenizes, #3 is the page's wallet, #4 a payer.
const keyAt = (index: number): Hex => {
	const key = mnemonicToAccount("test test test test test test test test test test test junk", { addressIndex: index }).getHdKey()
		.privateKey;
	if (!key) throw new Error("no private key");
	return bytesToHex(key);
};
export const KEYS = { deployer: keyAt(0), creator: keyAt(2), holder: keyAt(3), payer: keyAt(4) };

export interface Chain {
	rpcUrl: string;
	addresses: Addresses;
	token: Address;
	sale: Address;
	stop: () => void;
}

async function startAnvil(): Promise<{ process: ChildProcess; rpcUrl: string }> {
	const port = await freePort();
	const child = spawn(join(root, "node_modules", ".bin", "anvil"), ["--port", String(port), "--silent"], {
		stdio: ["ignore", "ignore", "inherit"],
	});
	const rpcUrl = `http://127.0.0.1:${port}`;
	const client = createTestClient({ mode: "anvil", transport: http(rpcUrl) });
	for (let attempt = 0; attempt < 200; attempt++) {
		try {
			await client.getAutomine();
			return { process: child, rpcUrl };
		} catch {
			await new Promise((r) => setTimeout(r, 50));
		}
	}
	child.kill();
	throw new Error("anvil did not start");
}

/**
 * Deploys, tokenizes a model, lets the holder buy on the curve, has a payer deposit,
 * settles fees for the model and lets a day pass, so the holder has revenue to claim.
 */
export async function startChain(): Promise<Chain> {
	const node = await startAnvil();
	const { rpcUrl } = node;
	try {
		const addresses = await deployModeldex({ rpcUrl, privateKey: KEYS.deployer });
		const [creator, holder, payer, deployer] = await Promise.all(
			[KEYS.creator, KEYS.holder, KEYS.payer, KEYS.deployer].map((k) => connect(rpcUrl, k)),
		);
		if (!creator || !holder || !payer || !deployer) throw new Error("no clients");
		const pub = holder.publicClient;
		const mined = async (hash: Hex) => {
			const receipt = await pub.waitForTransactionReceipt({ hash });
			if (receipt.status !== "success") throw new Error(`transaction ${hash} reverted`);
			return receipt;
		};
		const paca = addresses.paca;
		for (const who of [holder, payer, creator]) {
			await fundLocalPaca({ rpcUrl, privateKey: KEYS.deployer, paca, to: who.account.address, amount: parseEther("100000") });
		}

		const tokenized = await mined(
			await creator.walletClient.writeContract({
				address: addresses.modelFactory,
				abi: modelFactoryAbi,
				functionName: "tokenize",
				args: [
					{
						repoId: "webtest/echo-chat",
						revision: "0123456789abcdef0123456789abcdef01234567",
						name: "Echo Chat 8B",
						symbol: "ECHO8B",
						metadataURI: "https://huggingface.co/webtest/echo-chat",
						inputPricePer1M: parseEther("0.2"),
						outputPricePer1M: parseEther("0.6"),
						creator: "0x0000000000000000000000000000000000000000",
					},
				],
			}),
		);
		let token: Address | null = null;
		let sale: Address | null = null;
		for (const log of tokenized.logs) {
			try {
				const event = decodeEventLog({ abi: modelFactoryAbi, data: log.data, topics: log.topics });
				if (event.eventName === "ModelTokenized") ({ token, sale } = event.args as unknown as { token: Address; sale: Address });
			} catch {
				// another contract's log
			}
		}
		if (!token || !sale) throw new Error("ModelTokenized not found");

		await mined(
			await holder.walletClient.writeContract({
				address: paca,
				abi: localPacaAbi,
				functionName: "approve",
				args: [sale, parseEther("5000")],
			}),
		);
		const deadline = BigInt(Math.floor(Date.now() / 1000) + 3600);
		await mined(
			await holder.walletClient.writeContract({
				address: sale,
				abi: modelSaleAbi,
				functionName: "buy",
				args: [parseEther("5000"), 1n, holder.account.address, deadline],
			}),
		);
		await mined(
			await payer.walletClient.writeContract({
				address: paca,
				abi: localPacaAbi,
				functionName: "approve",
				args: [addresses.revenueVault, parseEther("1000")],
			}),
		);
		await mined(
			await payer.walletClient.writeContract({
				address: addresses.revenueVault,
				abi: revenueVaultAbi,
				functionName: "deposit",
				args: [payer.account.address, parseEther("1000")],
			}),
		);
		await mined(
			await deployer.walletClient.writeContract({
				address: addresses.revenueVault,
				abi: revenueVaultAbi,
				functionName: "settle",
				args: [1n, [token], [parseEther("100")], keccak256(stringToHex("web test epoch 1"))],
			}),
		);
		const test = createTestClient({ mode: "anvil", transport: http(rpcUrl) });
		await test.increaseTime({ seconds: 24 * 3600 });
		await test.mine({ blocks: 1 });
		const claimable = await pub.readContract({
			address: token,
			abi: modelTokenAbi,
			functionName: "claimable",
			args: [holder.account.address],
		});
		if (claimable === 0n) throw new Error("the holder has nothing to claim after settlement");
		return { rpcUrl, addresses, token, sale, stop: () => node.process.kill() };
	} catch (error) {
		node.process.kill();
		throw error;
	}
}

/**
 * The network the test wallet is on, what it does when the page asks it to switch, and
 * what the page asked of it (with the chain it was on then).
 */
export interface WalletNetwork {
	chainId: number;
	/** false: the user declines every switch (4001). */
	switches: boolean;
	requests: Array<{ method: string; params: unknown[]; chainId: number }>;
	/** While set, the wallet's node fails the eth_calls it matches (-32000), as a flaky RPC would. */
	failCall?: ((call: { to?: string; data?: string }) => boolean) | null;
}

export const walletOn = (chainId: number = anvil.id, switches = true): WalletNetwork => ({ chainId, switches, requests: [] });

/** The user moves the wallet to another network in the wallet itself: it tells the page (chainChanged), as MetaMask does. */
export async function moveWallet(page: Page, network: WalletNetwork, chainId: number): Promise<void> {
	network.chainId = chainId;
	await page.evaluate(
		(hex) => (window as unknown as { __testWalletEmit: (e: string, v: unknown) => void }).__testWalletEmit("chainChanged", hex),
		`0x${chainId.toString(16)}`,
	);
}

/**
 * Puts `window.ethereum` in the page: an EIP-1193 provider whose accounts, signatures
 * and transactions come from a viem local account in Node (through an exposed
 * function), and whose other calls go to anvil. The page sees what MetaMask would show it.
 * On another network than anvil's (`network`), its reads still go to anvil, as on a chain
 * where the same deployer key put the same contracts: plausible numbers of the wrong chain.
 */
export async function injectWallet(
	page: Page,
	rpcUrl: string,
	privateKey: Hex,
	network: WalletNetwork = walletOn(),
): Promise<Address> {
	const account = privateKeyToAccount(privateKey);
	const { walletClient } = await connect(rpcUrl, privateKey);
	const chain = { ...anvil, rpcUrls: { default: { http: [rpcUrl] } } };
	let rpcId = 0;
	const forward = async (method: string, params: unknown[]) => {
		const res = await fetch(rpcUrl, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ jsonrpc: "2.0", id: ++rpcId, method, params }),
		});
		const body = (await res.json()) as { result?: unknown; error?: { code: number; message: string; data?: unknown } };
		if (body.error) throw Object.assign(new Error(body.error.message), { code: body.error.code, data: body.error.data });
		return body.result;
	};
	// Like a real wallet, it shares the account only once the site asked (eth_requestAccounts).
	let shared = false;
	const handle = async (method: string, params: unknown[]): Promise<unknown> => {
		network.requests.push({ method, params, chainId: network.chainId });
		if (method === "eth_call" && network.failCall?.(params[0] as { to?: string; data?: string })) {
			throw Object.assign(new Error("test wallet: the node did not answer"), { code: -32000 });
		}
		switch (method) {
			case "eth_requestAccounts":
				shared = true;
				return [account.address];
			case "eth_accounts":
				return shared ? [account.address] : [];
			case "eth_chainId":
				return `0x${network.chainId.toString(16)}`;
			case "personal_sign":
				return account.signMessage({ message: { raw: params[0] as Hex } });
			case "eth_sendTransaction": {
				// Sent from the wrong network, it would be a real transaction there: a test failure, not a send.
				if (network.chainId !== anvil.id) throw new Error(`test wallet: asked to send on chain ${network.chainId}`);
				const tx = params[0] as { to: Address; data?: Hex; value?: Hex; gas?: Hex };
				return walletClient.sendTransaction({
					account,
					chain,
					to: tx.to,
					data: tx.data,
					value: tx.value ? hexToBigInt(tx.value) : undefined,
					gas: tx.gas ? hexToBigInt(tx.gas) : undefined,
				});
			}
			case "wallet_switchEthereumChain": {
				if (!network.switches) throw Object.assign(new Error("User rejected the request."), { code: 4001 });
				const to = Number((params[0] as { chainId: string }).chainId);
				if (to !== network.chainId) await moveWallet(page, network, to);
				return null;
			}
			default:
				return forward(method, params);
		}
	};
	await page.exposeFunction("__testWalletRequest", async (method: string, paramsJson: string) => {
		try {
			const result = await handle(method, JSON.parse(paramsJson) as unknown[]);
			return JSON.stringify({ result: result ?? null }, (_k, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v));
		} catch (error) {
			// Answer as a wallet would: the node's JSON-RPC error (code, message, revert data), not viem's wrapper.
			const rpc =
				error instanceof BaseError
					? (error.walk((e) => typeof (e as { code?: unknown }).code === "number") as { code?: number; data?: unknown } | null)
					: null;
			const e = (rpc ?? error) as { code?: number; message?: string; shortMessage?: string; data?: unknown };
			return JSON.stringify({
				error: { code: e.code ?? -32603, message: e.shortMessage ?? e.message ?? String(error), data: e.data },
			});
		}
	});
	await page.addInitScript(() => {
		const call = (window as unknown as { __testWalletRequest: (m: string, p: string) => Promise<string> }).__testWalletRequest;
		const listeners = new Map<string, Set<(value: unknown) => void>>();
		(window as unknown as { __testWalletEmit: (event: string, value: unknown) => void }).__testWalletEmit = (event, value) => {
			for (const listener of listeners.get(event) ?? []) listener(value);
		};
		(window as unknown as { ethereum: unknown }).ethereum = {
			isTestWallet: true,
			async request({ method, params }: { method: string; params?: unknown[] }) {
				const answer = JSON.parse(await call(method, JSON.stringify(params ?? []))) as {
					result?: unknown;
					error?: { code: number; message: string; data?: unknown };
				};
				if (answer.error) throw Object.assign(new Error(answer.error.message), answer.error);
				return answer.result;
			},
			on(event: string, listener: (value: unknown) => void) {
				if (!listeners.has(event)) listeners.set(event, new Set());
				listeners.get(event)?.add(listener);
			},
			removeListener(event: string, listener: (value: unknown) => void) {
				listeners.get(event)?.delete(listener);
			},
		};
	});
	return account.address;
}

/** Someone else buys on the curve, 2 % of its virtual PACA reserve: the price moves about 4 %. */
export async function moveThePrice(chain: Chain, privateKey: Hex): Promise<void> {
	const { walletClient, publicClient } = await connect(chain.rpcUrl, privateKey);
	const [virtualPaca] = await publicClient.readContract({
		address: chain.sale,
		abi: modelSaleAbi,
		functionName: "virtualReserves",
	});
	const pacaIn = virtualPaca / 50n;
	const send = async (hash: Hex) => {
		const receipt = await publicClient.waitForTransactionReceipt({ hash });
		if (receipt.status !== "success") throw new Error(`transaction ${hash} reverted`);
	};
	await send(
		await walletClient.writeContract({
			address: chain.addresses.paca,
			abi: localPacaAbi,
			functionName: "approve",
			args: [chain.sale, pacaIn],
		}),
	);
	const block = await publicClient.getBlock();
	await send(
		await walletClient.writeContract({
			address: chain.sale,
			abi: modelSaleAbi,
			functionName: "buy",
			args: [pacaIn, 1n, walletClient.account.address, block.timestamp + 600n],
		}),
	);
}

/**
 * The settler pays the model `fees` more (the next epoch, out of the payer's deposit) and a
 * day passes, so the whole drip is claimable: revenue for a test that claims after another did.
 */
export async function settleRevenue(chain: Chain, fees: bigint): Promise<void> {
	const { walletClient, publicClient } = await connect(chain.rpcUrl, KEYS.deployer);
	const vault = chain.addresses.revenueVault;
	const [epoch, settled] = await Promise.all([
		publicClient.readContract({ address: vault, abi: revenueVaultAbi, functionName: "lastSettledEpoch" }),
		publicClient.readContract({ address: vault, abi: revenueVaultAbi, functionName: "settledFees", args: [chain.token] }),
	]);
	const hash = await walletClient.writeContract({
		address: vault,
		abi: revenueVaultAbi,
		functionName: "settle",
		args: [epoch + 1n, [chain.token], [settled + fees], keccak256(stringToHex(`web test epoch ${epoch + 1n}`))],
	});
	const receipt = await publicClient.waitForTransactionReceipt({ hash });
	if (receipt.status !== "success") throw new Error(`settle ${hash} reverted`);
	const test = createTestClient({ mode: "anvil", transport: http(chain.rpcUrl) });
	await test.increaseTime({ seconds: 24 * 3600 });
	await test.mine({ blocks: 1 });
}
