import {
	type Chain,
	createPublicClient,
	createWalletClient,
	defineChain,
	type Hex,
	http,
	type PublicClient,
	type Transport,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { ChainConfig } from "./config.ts";

// viem clients for the configured chain. The chain is defined from the config
// (id + RPC), so a wrong RPC fails on the first signed transaction (EIP-155)
// rather than paying on another network.

export function chainOf(config: ChainConfig): Chain {
	return defineChain({
		id: config.chainId,
		name: `chain-${config.chainId}`,
		nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
		rpcUrls: { default: { http: [config.rpcUrl] } },
	});
}

export function publicClientFor(config: ChainConfig): PublicClient<Transport, Chain> {
	// cacheTime 0: a cron run compares the head with receipts it just saw; a cached head would lag.
	return createPublicClient({ chain: chainOf(config), transport: http(config.rpcUrl, { retryCount: 2 }), cacheTime: 0 });
}

export function walletClientFor(config: ChainConfig, privateKey: Hex) {
	return createWalletClient({
		account: privateKeyToAccount(privateKey),
		chain: chainOf(config),
		transport: http(config.rpcUrl, { retryCount: 2 }),
	});
}
