// scripts/deploy-contracts.ts against a real anvil: its check of PAIR_INIT_CODE_HASH before anything
// is deployed, and a deployment onto a given Uniswap V2 factory that already has pairs (a shared,
// public one), which must be left without a pair of ours.
import { type Address, encodePacked, getAddress, getCreate2Address, type Hex, keccak256, stringToHex } from "viem";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { uniswapV2FactoryAbi } from "../../lib/chain/abis.ts";
import {
	type Clients,
	checkPairInitCodeHash,
	connect,
	deployModeldex,
	uniswapArtifact,
	uniswapPairInitCodeHash,
} from "../../scripts/deploy-contracts.ts";
import { anvilKey, type Chain, startChain } from "./helpers.ts";

const TOKEN_A = getAddress("0x00000000000000000000000000000000000000aa");
const TOKEN_B = getAddress("0x00000000000000000000000000000000000000bb");
const PROBE_TOKENS = ["0x0000000000000000000000000000000000000001", "0x0000000000000000000000000000000000000002"] as const;
const WRONG_HASH = keccak256(stringToHex("not the pair"));

let chain: Chain;
let c: Clients;

beforeAll(async () => {
	chain = await startChain();
	c = await connect(chain.rpcUrl, anvilKey(0));
});

afterAll(() => {
	chain?.stop();
});

/** A fresh Uniswap V2 factory, with a pair of each of `pairs` created on it. */
async function uniswapFactory(pairs: ReadonlyArray<readonly [Address, Address]> = []): Promise<Address> {
	const { abi, bytecode } = uniswapArtifact("v2-core", "UniswapV2Factory");
	const hash = await c.walletClient.deployContract({ abi, bytecode, args: [c.account.address] });
	const address = (await c.publicClient.waitForTransactionReceipt({ hash })).contractAddress;
	if (!address) throw new Error("no factory address");
	for (const pair of pairs) {
		const tx = await c.walletClient.writeContract({
			address,
			abi: uniswapV2FactoryAbi,
			functionName: "createPair",
			args: [...pair],
		});
		await c.publicClient.waitForTransactionReceipt({ hash: tx });
	}
	return getAddress(address);
}

const pairsOf = (factory: Address) =>
	c.publicClient.readContract({ address: factory, abi: uniswapV2FactoryAbi, functionName: "allPairsLength" });

const pairAddress = (factory: Address, tokens: readonly [Address, Address], initCodeHash: Hex) =>
	getCreate2Address({
		from: factory,
		salt: keccak256(encodePacked(["address", "address"], [...tokens])),
		bytecodeHash: initCodeHash,
	});

describe("checkPairInitCodeHash", () => {
	test("on a factory with pairs it checks the first one: a wrong hash names that pair", async () => {
		const factory = await uniswapFactory([[TOKEN_A, TOKEN_B]]);
		const first = pairAddress(factory, [TOKEN_A, TOKEN_B], uniswapPairInitCodeHash());
		await expect(checkPairInitCodeHash(c, factory, uniswapPairInitCodeHash())).resolves.toBeUndefined();
		await expect(checkPairInitCodeHash(c, factory, WRONG_HASH)).rejects.toThrow(
			`at ${first}, the hash predicts ${pairAddress(factory, [TOKEN_A, TOKEN_B], WRONG_HASH)}`,
		);
		expect(await pairsOf(factory)).toBe(1n);
	});

	test("on a factory without any pair it checks where the probe pair would go, and creates none", async () => {
		const factory = await uniswapFactory();
		await expect(checkPairInitCodeHash(c, factory, uniswapPairInitCodeHash())).resolves.toBeUndefined();
		await expect(checkPairInitCodeHash(c, factory, WRONG_HASH)).rejects.toThrow(
			`at ${pairAddress(factory, PROBE_TOKENS, uniswapPairInitCodeHash())}, the hash predicts ${pairAddress(factory, PROBE_TOKENS, WRONG_HASH)}`,
		);
		expect(await pairsOf(factory)).toBe(0n);
	});
});

test("deployModeldex on a Uniswap factory that has pairs adds none to it", async () => {
	const factory = await uniswapFactory([[TOKEN_A, TOKEN_B]]);
	const addresses = await deployModeldex({ rpcUrl: chain.rpcUrl, privateKey: anvilKey(0), uniswapV2Factory: factory });
	expect(addresses.uniswapV2Factory).toBe(factory);
	expect(await pairsOf(factory)).toBe(1n);
});
