// Deploys the Modeldex contracts with viem, to anvil or a real chain.
//
//   As a module:  const addresses = await deployModeldex({ rpcUrl, privateKey, settler })
//   As a CLI:     RPC_URL=http://127.0.0.1:8545 DEPLOYER_KEY=0x... node scripts/deploy-contracts.ts
//
// Bytecode comes from the Foundry artifacts in contracts/out (run `npm run build:contracts` first) and
// from the Uniswap V2 build JSON in node_modules. Deploys, in order: the local PACA stand-in (only
// without a PACA address), Uniswap V2 factory + WETH9 + Router02 (only when not given), RevenueVault,
// ModelFactory (which deploys the ModelToken and ModelSale implementations itself), then grants the
// vault roles: REGISTRAR to the factory, SETTLER and GUARDIAN to the configured addresses.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
	type Abi,
	type Address,
	type Chain,
	createPublicClient,
	createWalletClient,
	defineChain,
	encodePacked,
	getAddress,
	getCreate2Address,
	type Hex,
	http,
	keccak256,
	type PublicClient,
	type Transport,
	type WalletClient,
} from "viem";
import { type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import {
	localPacaAbi,
	modelFactoryAbi,
	revenueVaultAbi,
	uniswapV2FactoryAbi,
	uniswapV2PairAbi,
	uniswapV2Router02Abi,
} from "../lib/chain/abis.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

export interface DeployOptions {
	rpcUrl: string;
	privateKey: Hex;
	/** Checked against the node's chain id when given (guards against deploying to the wrong chain). */
	chainId?: number;
	/** Real PACA token; without it a LocalPaca stand-in (with an open faucet) is deployed. */
	pacaAddress?: Address;
	/** Existing Uniswap V2 factory; without it one is deployed from @uniswap/v2-core. */
	uniswapV2Factory?: Address;
	/** Existing Router02 for that factory; without it WETH9 + Router02 are deployed. */
	uniswapV2Router02?: Address;
	/** keccak256 of the pair creation code of `uniswapV2Factory`; defaults to the @uniswap/v2-core build (= mainnet V2). */
	pairInitCodeHash?: Hex;
	/** Gets SETTLER_ROLE on the vault (settle + payWithdrawal). Default: the deployer. */
	settler?: Address;
	/** Gets GUARDIAN_ROLE on the vault (pause). Default: the deployer. */
	guardian?: Address;
	/** Final DEFAULT_ADMIN of vault and factory. Default: the deployer (who hands over and renounces otherwise). */
	admin?: Address;
	/** Receives trade fees and graduation leftovers. Default: the admin. */
	treasury?: Address;
	/**
	 * The vault's epoch length in seconds: it refuses to settle an epoch after the one following the
	 * current. The settler's EPOCH_SECONDS must equal it. Default 3600, the settler's default.
	 */
	epochSeconds?: number;
	/** Vault fee split, each capped at 1000 (10 %) on chain. Defaults 500 and 1000. */
	protocolFeeBps?: number;
	creatorFeeBps?: number;
	/** Print each step. */
	log?: (line: string) => void;
}

export interface Addresses {
	chainId: number;
	deployer: Address;
	/** First block containing a Modeldex deployment: where the indexer starts. */
	startBlock: number;
	paca: Address;
	pacaIsLocalStandIn: boolean;
	uniswapV2Factory: Address;
	uniswapV2Router02: Address;
	/** WETH9 the router uses (deployed with it, or read from the given router). */
	weth: Address;
	pairInitCodeHash: Hex;
	revenueVault: Address;
	modelFactory: Address;
	modelTokenImplementation: Address;
	modelSaleImplementation: Address;
	admin: Address;
	settler: Address;
	guardian: Address;
	treasury: Address;
	protocolFeeBps: number;
	creatorFeeBps: number;
}

interface Artifact {
	abi: Abi;
	bytecode: Hex;
}

/** Foundry artifact from contracts/out, e.g. foundryArtifact("RevenueVault"). */
export function foundryArtifact(name: string): Artifact {
	const path = join(root, "contracts", "out", `${name}.sol`, `${name}.json`);
	let json: { abi: Abi; bytecode?: { object?: string } };
	try {
		json = JSON.parse(readFileSync(path, "utf8"));
	} catch (error) {
		throw new Error(`cannot read ${path}; run \`npm run build:contracts\` first (${(error as Error).message})`);
	}
	const object = json.bytecode?.object;
	if (!object || object === "0x") throw new Error(`${path} has no bytecode`);
	return { abi: json.abi, bytecode: object as Hex };
}

/** Uniswap V2 build artifact from node_modules, e.g. uniswapArtifact("v2-core", "UniswapV2Factory"). */
export function uniswapArtifact(pkg: "v2-core" | "v2-periphery", name: string): Artifact {
	const path = join(root, "node_modules", "@uniswap", pkg, "build", `${name}.json`);
	const json = JSON.parse(readFileSync(path, "utf8")) as { abi: Abi; evm: { bytecode: { object: string } } };
	const object = json.evm.bytecode.object;
	return { abi: json.abi, bytecode: (object.startsWith("0x") ? object : `0x${object}`) as Hex };
}

/** Init code hash of the @uniswap/v2-core pair; equals the one hard-coded in Router02 (0x96e8ac42...). */
export function uniswapPairInitCodeHash(): Hex {
	return keccak256(uniswapArtifact("v2-core", "UniswapV2Pair").bytecode);
}

/**
 * The two addresses whose pair ModelFactory's constructor creates to check the init code hash on a
 * Uniswap factory without any pair (its PROBE_TOKEN0/1).
 */
const PROBE_TOKENS = ["0x0000000000000000000000000000000000000001", "0x0000000000000000000000000000000000000002"] as const;

/**
 * Fails before anything is deployed when `pairInitCodeHash` is not the one of `uniswapV2Factory`
 * (e.g. the mainnet V2 default given with a fork's factory). ModelFactory's constructor makes the
 * same check, against the same pair, and would revert with less to go on: the factory's first pair
 * (`allPairs(0)`), or on a factory without any the probe pair the constructor would create (here
 * only simulated), against where the hash predicts it.
 */
export async function checkPairInitCodeHash(c: Clients, uniswapV2Factory: Address, pairInitCodeHash: Hex): Promise<void> {
	const v2 = { address: uniswapV2Factory, abi: uniswapV2FactoryAbi } as const;
	let pair: Address;
	let tokens: readonly [Address, Address] = PROBE_TOKENS;
	if ((await c.publicClient.readContract({ ...v2, functionName: "allPairsLength" })) > 0n) {
		pair = await c.publicClient.readContract({ ...v2, functionName: "allPairs", args: [0n] });
		const first = { address: pair, abi: uniswapV2PairAbi } as const;
		tokens = await Promise.all([
			c.publicClient.readContract({ ...first, functionName: "token0" }),
			c.publicClient.readContract({ ...first, functionName: "token1" }),
		]);
	} else {
		try {
			({ result: pair } = await c.publicClient.simulateContract({
				...v2,
				functionName: "createPair",
				args: [...PROBE_TOKENS],
				account: c.account,
			}));
		} catch (error) {
			throw new Error(
				`cannot check PAIR_INIT_CODE_HASH against the Uniswap V2 factory ${uniswapV2Factory}: it has no pair yet and createPair of two test addresses fails (${(error as Error).message.split("\n")[0]})`,
			);
		}
	}
	const derived = getCreate2Address({
		from: uniswapV2Factory,
		salt: keccak256(encodePacked(["address", "address"], [...tokens])),
		bytecodeHash: pairInitCodeHash,
	});
	if (getAddress(pair) !== derived) {
		throw new Error(
			`PAIR_INIT_CODE_HASH ${pairInitCodeHash} is not the pair init code hash of the Uniswap V2 factory ${uniswapV2Factory}: ` +
				`it deploys the pair of ${tokens.join(" and ")} at ${getAddress(pair)}, the hash predicts ${derived}. ` +
				"Set PAIR_INIT_CODE_HASH to that factory's hash (keccak256 of its pair creation code).",
		);
	}
}

export type Clients = {
	account: PrivateKeyAccount;
	chain: Chain;
	publicClient: PublicClient<Transport, Chain>;
	walletClient: WalletClient<Transport, Chain, PrivateKeyAccount>;
};

async function deploy(
	c: Clients,
	artifact: Artifact,
	args: readonly unknown[] = [],
): Promise<{ address: Address; block: number }> {
	const hash = await c.walletClient.deployContract({ abi: artifact.abi, bytecode: artifact.bytecode, args });
	const receipt = await c.publicClient.waitForTransactionReceipt({ hash });
	if (receipt.status !== "success" || !receipt.contractAddress) throw new Error(`deployment reverted (${hash})`);
	return { address: getAddress(receipt.contractAddress), block: Number(receipt.blockNumber) };
}

async function confirm(c: Clients, hash: Hex): Promise<void> {
	const receipt = await c.publicClient.waitForTransactionReceipt({ hash });
	if (receipt.status !== "success") throw new Error(`transaction reverted (${hash})`);
}

/** viem clients for `rpcUrl`, on the chain the node reports (checked against `expectedChainId`). */
export async function connect(rpcUrl: string, privateKey: Hex, expectedChainId?: number): Promise<Clients> {
	const account = privateKeyToAccount(privateKey);
	const chainId = await createPublicClient({ transport: http(rpcUrl) }).getChainId();
	if (expectedChainId !== undefined && expectedChainId !== chainId) {
		throw new Error(`RPC ${rpcUrl} is chain ${chainId}, expected ${expectedChainId}`);
	}
	const chain = defineChain({
		id: chainId,
		name: `chain-${chainId}`,
		nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
		rpcUrls: { default: { http: [rpcUrl] } },
	});
	const transport = http(rpcUrl);
	return {
		account,
		chain,
		publicClient: createPublicClient({ chain, transport }),
		walletClient: createWalletClient({ account, chain, transport }),
	};
}

export async function deployModeldex(opts: DeployOptions): Promise<Addresses> {
	const log = opts.log ?? (() => {});
	const c = await connect(opts.rpcUrl, opts.privateKey, opts.chainId);
	const chainId = c.chain.id;
	const account = c.account;
	const deployer = account.address;
	const admin = opts.admin ? getAddress(opts.admin) : deployer;
	const settler = opts.settler ? getAddress(opts.settler) : deployer;
	const guardian = opts.guardian ? getAddress(opts.guardian) : deployer;
	const treasury = opts.treasury ? getAddress(opts.treasury) : admin;
	const protocolFeeBps = opts.protocolFeeBps ?? 500;
	const creatorFeeBps = opts.creatorFeeBps ?? 1_000;
	const epochSeconds = opts.epochSeconds ?? 3_600;
	if (!Number.isInteger(epochSeconds) || epochSeconds < 1 || epochSeconds > 0xffffffff) {
		throw new Error(`epochSeconds must be a whole number of seconds (the settler's EPOCH_SECONDS), not ${epochSeconds}`);
	}
	let startBlock = Number.POSITIVE_INFINITY;
	const step = async (label: string, artifact: Artifact, args: readonly unknown[] = []) => {
		const { address, block } = await deploy(c, artifact, args);
		startBlock = Math.min(startBlock, block);
		log(`${label.padEnd(22)} ${address}`);
		return address;
	};

	const pairInitCodeHash = opts.pairInitCodeHash ?? uniswapPairInitCodeHash();
	let uniswapV2Factory = opts.uniswapV2Factory ? getAddress(opts.uniswapV2Factory) : undefined;
	// A given factory is checked before anything is deployed; one deployed here, once it exists.
	if (uniswapV2Factory) await checkPairInitCodeHash(c, uniswapV2Factory, pairInitCodeHash);

	const paca = opts.pacaAddress ? getAddress(opts.pacaAddress) : await step("LocalPaca (stand-in)", foundryArtifact("LocalPaca"));

	if (!uniswapV2Factory) {
		uniswapV2Factory = await step("UniswapV2Factory", uniswapArtifact("v2-core", "UniswapV2Factory"), [deployer]);
		await checkPairInitCodeHash(c, uniswapV2Factory, pairInitCodeHash);
	}
	let uniswapV2Router02 = opts.uniswapV2Router02 ? getAddress(opts.uniswapV2Router02) : undefined;
	let weth: Address;
	if (uniswapV2Router02) {
		weth = await c.publicClient.readContract({ address: uniswapV2Router02, abi: uniswapV2Router02Abi, functionName: "WETH" });
	} else {
		weth = await step("WETH9", uniswapArtifact("v2-periphery", "WETH9"));
		uniswapV2Router02 = await step("UniswapV2Router02", uniswapArtifact("v2-periphery", "UniswapV2Router02"), [
			uniswapV2Factory,
			weth,
		]);
	}

	// The deployer administers the vault until the roles are wired, then hands over if asked to.
	const revenueVault = await step("RevenueVault", foundryArtifact("RevenueVault"), [
		paca,
		deployer,
		protocolFeeBps,
		creatorFeeBps,
		epochSeconds,
	]);
	const modelFactory = await step("ModelFactory", foundryArtifact("ModelFactory"), [
		{ paca, uniswapFactory: uniswapV2Factory, pairInitCodeHash, vault: revenueVault, treasury, admin },
	]);

	type VaultRole = "REGISTRAR_ROLE" | "SETTLER_ROLE" | "GUARDIAN_ROLE" | "DEFAULT_ADMIN_ROLE";
	const vault = { address: revenueVault, abi: revenueVaultAbi } as const;
	const roleId = (name: VaultRole) => c.publicClient.readContract({ ...vault, functionName: name });
	const grant = async (name: VaultRole, to: Address) => {
		await confirm(c, await c.walletClient.writeContract({ ...vault, functionName: "grantRole", args: [await roleId(name), to] }));
		log(`vault ${name.padEnd(18)} ${to}`);
	};
	await grant("REGISTRAR_ROLE", modelFactory);
	await grant("SETTLER_ROLE", settler);
	await grant("GUARDIAN_ROLE", guardian);
	if (admin !== deployer) {
		await grant("DEFAULT_ADMIN_ROLE", admin);
		const adminRole = await roleId("DEFAULT_ADMIN_ROLE");
		await confirm(c, await c.walletClient.writeContract({ ...vault, functionName: "renounceRole", args: [adminRole, deployer] }));
		log(`vault admin handed over to ${admin}`);
	}

	const factory = { address: modelFactory, abi: modelFactoryAbi } as const;
	const [modelTokenImplementation, modelSaleImplementation] = await Promise.all([
		c.publicClient.readContract({ ...factory, functionName: "tokenImplementation" }),
		c.publicClient.readContract({ ...factory, functionName: "saleImplementation" }),
	]);

	return {
		chainId,
		deployer,
		startBlock,
		paca,
		pacaIsLocalStandIn: !opts.pacaAddress,
		uniswapV2Factory,
		uniswapV2Router02,
		weth,
		pairInitCodeHash,
		revenueVault,
		modelFactory,
		modelTokenImplementation,
		modelSaleImplementation,
		admin,
		settler,
		guardian,
		treasury,
		protocolFeeBps,
		creatorFeeBps,
	};
}

/** Reads an addresses file written by this script (default `.modeldex/addresses.json`). */
export function readAddresses(file = join(root, ".modeldex", "addresses.json")): Addresses {
	return JSON.parse(readFileSync(file, "utf8")) as Addresses;
}

export function writeAddresses(addresses: Addresses, file = join(root, ".modeldex", "addresses.json")): string {
	const path = resolve(file);
	mkdirSync(dirname(path), { recursive: true });
	writeFileSync(path, `${JSON.stringify(addresses, null, "\t")}\n`);
	return path;
}

/** Faucet for the local PACA stand-in (development chains only). */
export async function fundLocalPaca(opts: { rpcUrl: string; privateKey: Hex; paca: Address; to: Address; amount: bigint }) {
	const c = await connect(opts.rpcUrl, opts.privateKey);
	const hash = await c.walletClient.writeContract({
		address: opts.paca,
		abi: localPacaAbi,
		functionName: "faucet",
		args: [opts.to, opts.amount],
	});
	await confirm(c, hash);
}

function optionalAddress(name: string): Address | undefined {
	const value = process.env[name];
	return value ? getAddress(value) : undefined;
}

async function main() {
	const privateKey = process.env.DEPLOYER_KEY as Hex | undefined;
	if (!privateKey) throw new Error("DEPLOYER_KEY is required (for anvil, one of the keys it prints at start)");
	const out = process.env.OUT ?? join(root, ".modeldex", "addresses.json");
	const addresses = await deployModeldex({
		rpcUrl: process.env.RPC_URL ?? "http://127.0.0.1:8545",
		privateKey,
		chainId: process.env.CHAIN_ID ? Number(process.env.CHAIN_ID) : undefined,
		pacaAddress: optionalAddress("PACA_ADDRESS"),
		uniswapV2Factory: optionalAddress("UNISWAP_V2_FACTORY"),
		uniswapV2Router02: optionalAddress("UNISWAP_V2_ROUTER"),
		pairInitCodeHash: process.env.PAIR_INIT_CODE_HASH as Hex | undefined,
		settler: optionalAddress("SETTLER_ADDRESS"),
		guardian: optionalAddress("GUARDIAN_ADDRESS"),
		admin: optionalAddress("ADMIN_ADDRESS"),
		treasury: optionalAddress("TREASURY_ADDRESS"),
		epochSeconds: process.env.EPOCH_SECONDS ? Number(process.env.EPOCH_SECONDS) : undefined,
		log: (line) => console.log(line),
	});
	console.log(`wrote ${writeAddresses(addresses, out)}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
	main().catch((error: unknown) => {
		console.error(error instanceof Error ? error.message : error);
		process.exit(1);
	});
}
