import { type Address, getAddress, type Hex } from "viem";
import { z } from "zod";

// Chain configuration of the indexer and the settler, parsed once at the Worker
// boundary so a missing or malformed var is a clear error naming it.
//
// CHAIN_ADDRESSES is the JSON written by scripts/deploy-contracts.ts (the whole
// `Addresses` object is accepted; only the fields below are read).

const AddressString = z
	.string()
	.regex(/^0x[0-9a-fA-F]{40}$/, "must be a 0x-prefixed 20-byte address")
	.transform((a) => getAddress(a));

const AddressesJson = z.object({
	chainId: z.number().int().positive().optional(),
	startBlock: z.number().int().nonnegative().optional(),
	paca: AddressString,
	revenueVault: AddressString,
	modelFactory: AddressString,
});

export interface ChainAddresses {
	paca: Address;
	revenueVault: Address;
	modelFactory: Address;
}

export interface ChainConfig {
	rpcUrl: string;
	chainId: number;
	addresses: ChainAddresses;
	/** First block to read when no cursor is stored. */
	startBlock: bigint;
	/** Blocks a log must be buried under before it is applied (0: the head itself). */
	confirmations: bigint;
	/** Most blocks one eth_getLogs call may span. */
	maxBlockRange: bigint;
}

/** CHAIN_ID: the EIP-155 id of the chain the contracts are on (the gateway serves it to the dashboard as GET /v1/chain). */
export const ChainIdVar = z.coerce.number().int().positive();

const IntString = (fallback: number) => z.coerce.number().int().nonnegative().default(fallback);

const ChainEnv = z.object({
	RPC_URL: z.url(),
	CHAIN_ID: ChainIdVar.optional(),
	CHAIN_ADDRESSES: z.string().min(2),
	START_BLOCK: z.coerce.number().int().nonnegative().optional(),
	CONFIRMATIONS: IntString(2),
	MAX_BLOCK_RANGE: z.coerce.number().int().positive().default(2_000),
});

export interface ChainEnvVars {
	RPC_URL?: string;
	CHAIN_ID?: string;
	CHAIN_ADDRESSES?: string;
	START_BLOCK?: string;
	CONFIRMATIONS?: string;
	MAX_BLOCK_RANGE?: string;
}

export function readChainConfig(env: ChainEnvVars): ChainConfig {
	const parsed = ChainEnv.safeParse(env);
	if (!parsed.success) throw new Error(`bad chain configuration: ${z.prettifyError(parsed.error)}`);
	let json: unknown;
	try {
		json = JSON.parse(parsed.data.CHAIN_ADDRESSES);
	} catch (error) {
		throw new Error(`bad chain configuration: CHAIN_ADDRESSES is not JSON (${(error as Error).message})`);
	}
	const addresses = AddressesJson.safeParse(json);
	if (!addresses.success) throw new Error(`bad chain configuration: CHAIN_ADDRESSES ${z.prettifyError(addresses.error)}`);
	const chainId = parsed.data.CHAIN_ID ?? addresses.data.chainId;
	if (chainId === undefined) throw new Error("bad chain configuration: CHAIN_ID is missing (and CHAIN_ADDRESSES has no chainId)");
	if (addresses.data.chainId !== undefined && addresses.data.chainId !== chainId) {
		throw new Error(`bad chain configuration: CHAIN_ID ${chainId} but CHAIN_ADDRESSES is for chain ${addresses.data.chainId}`);
	}
	return {
		rpcUrl: parsed.data.RPC_URL,
		chainId,
		addresses: {
			paca: addresses.data.paca,
			revenueVault: addresses.data.revenueVault,
			modelFactory: addresses.data.modelFactory,
		},
		startBlock: BigInt(parsed.data.START_BLOCK ?? addresses.data.startBlock ?? 0),
		confirmations: BigInt(parsed.data.CONFIRMATIONS),
		maxBlockRange: BigInt(parsed.data.MAX_BLOCK_RANGE),
	};
}

export function parsePrivateKey(value: string | undefined, name: string): Hex {
	if (!value || !/^0x[0-9a-fA-F]{64}$/.test(value))
		throw new Error(`bad chain configuration: ${name} must be a 0x-prefixed 32-byte hex key`);
	return value as Hex;
}
