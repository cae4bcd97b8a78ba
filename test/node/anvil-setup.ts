import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestClient, type Hex, http, parseEther } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import type { TestProject } from "vitest/node";
import { connect, deployModeldex } from "../../scripts/deploy-contracts.ts";
import type { ChainFixture, Deployment } from "../chain/fixture.ts";
import { startRpcFaults } from "./rpc-faults.ts";

// Runs in Node before the workerd tests: real anvil nodes with the real Modeldex
// contracts deployed, for test/chain. Each scenario that changes global chain
// state (the vault's settled epochs, snapshots, mining) gets a deployment or a
// node of its own, so test files can run in parallel:
//   shared anvil: one deployment per scenario name in SHARED_DEPLOYMENTS
//   one anvil per ISOLATED_NODES name (snapshot/revert or automine off would
//   disturb everyone else)
// Plus UsageProofCheck (test/chain/contracts), compiled here with solc-js, which
// verifies API proofs with OpenZeppelin's MerkleProof against the vault's root.

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** anvil's first default account: deployer and admin of every test deployment (each settler is a fresh key, see deployScenario). */
export const ANVIL_KEY_0: Hex = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const SHARED_DEPLOYMENTS = [
	"indexer",
	"settler",
	"settler-crash",
	"settler-lease",
	"settler-rotation",
	"proofs",
	"e2e",
	"withdrawals",
	"escrow",
	"settle-cap",
	"settle-refused",
	"vault-ahead",
	"settle-rpc-fails",
	"many-unknown",
	"indexer-rpc-fails",
	"epoch-length",
] as const;
/** Deployments whose vault has the production epoch length (1 h) rather than deployScenario's 1 s. */
const HOUR_EPOCHS: ReadonlySet<string> = new Set(["epoch-length"]);
/** Scenarios that rewind or stall the whole node (snapshot/revert, automine off, mining on demand) get a node each. */
const ISOLATED_NODES = ["reorg", "stuck", "confirmations"] as const;

async function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.listen(0, "127.0.0.1", () => {
			const address = server.address();
			const port = typeof address === "object" && address ? address.port : 0;
			server.close(() => resolve(port));
		});
		server.on("error", reject);
	});
}

async function startAnvil(chainId: number): Promise<{ process: ChildProcess; rpcUrl: string }> {
	const port = await freePort();
	const child = spawn(anvilBinary(), ["--port", String(port), "--chain-id", String(chainId), "--silent"], {
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
	throw new Error(`anvil did not start on ${rpcUrl}`);
}

/** The native binary (the npm bin is a Node wrapper; killing it could leave anvil running). */
function anvilBinary(): string {
	const native = join(
		root,
		"node_modules",
		"@foundry-rs",
		`anvil-${process.platform}-${process.arch === "x64" ? "amd64" : process.arch}`,
		"bin",
		"anvil",
	);
	return existsSync(native) ? native : join(root, "node_modules", ".bin", "anvil");
}

function ensureContractsBuilt(): void {
	if (existsSync(join(root, "contracts", "out", "RevenueVault.sol", "RevenueVault.json"))) return;
	execFileSync(join(root, "node_modules", ".bin", "forge"), ["build"], { cwd: join(root, "contracts"), stdio: "inherit" });
}

async function compileUsageProofCheck(): Promise<{ abi: unknown[]; bytecode: Hex }> {
	const solc = (await import("solc")).default as { compile(input: string, opts: unknown): string };
	const source = readFileSync(join(root, "test", "chain", "contracts", "UsageProofCheck.sol"), "utf8");
	const input = {
		language: "Solidity",
		sources: { "UsageProofCheck.sol": { content: source } },
		settings: { evmVersion: "cancun", outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } } },
	};
	const findImports = (path: string) => {
		const file = join(root, "node_modules", path);
		return existsSync(file) ? { contents: readFileSync(file, "utf8") } : { error: `not found: ${path}` };
	};
	const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports })) as {
		errors?: Array<{ severity: string; formattedMessage: string }>;
		contracts: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>>;
	};
	const errors = (output.errors ?? []).filter((e) => e.severity === "error");
	if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join("\n"));
	const contract = output.contracts["UsageProofCheck.sol"]?.UsageProofCheck;
	if (!contract) throw new Error("UsageProofCheck missing from solc output");
	return { abi: contract.abi, bytecode: `0x${contract.evm.bytecode.object}` };
}

/**
 * A deployment whose SETTLER_ROLE belongs to a fresh key of its own (parallel test files never share a nonce).
 * The vault's epochs are 1 s long: it refuses epochs after the one following the chain's current epoch, and
 * the tests run the settler (60 s epochs) on clocks up to an hour ahead of the chain's. Epochs of 60 s seen
 * as 1 s epochs are far in the past, so the bound never gets in the way here (contracts/test covers it).
 */
async function deployScenario(rpcUrl: string, epochSeconds = 1): Promise<Deployment> {
	const settlerKey = generatePrivateKey();
	const settler = privateKeyToAccount(settlerKey).address;
	await createTestClient({ mode: "anvil", transport: http(rpcUrl) }).setBalance({ address: settler, value: parseEther("1000") });
	const addresses = await deployModeldex({ rpcUrl, privateKey: ANVIL_KEY_0, settler, epochSeconds });
	return { ...addresses, settlerKey };
}

export default async function setup(project: TestProject) {
	const started = Date.now();
	ensureContractsBuilt();
	const [shared, verifier, ...isolatedNodes] = await Promise.all([
		startAnvil(31337),
		compileUsageProofCheck(),
		...ISOLATED_NODES.map((_, i) => startAnvil(31338 + i)),
	]);
	const nodes = [shared, ...isolatedNodes];
	const faults = await startRpcFaults(shared.rpcUrl);
	const isolatedFaults = await Promise.all(isolatedNodes.map((node) => startRpcFaults(node.rpcUrl)));
	const closeFaults = () => {
		for (const proxy of [faults, ...isolatedFaults]) proxy.server.close();
	};
	try {
		const deployments: Record<string, Deployment> = {};
		// One at a time: they share the deployer's nonce.
		for (const name of SHARED_DEPLOYMENTS)
			deployments[name] = await deployScenario(shared.rpcUrl, HOUR_EPOCHS.has(name) ? 3600 : 1);
		const isolated: ChainFixture["isolated"] = {};
		for (const [i, name] of ISOLATED_NODES.entries()) {
			const node = isolatedNodes[i];
			if (!node) throw new Error("missing node");
			const faultyRpcUrl = isolatedFaults[i]?.url ?? "";
			isolated[name] = { rpcUrl: node.rpcUrl, faultyRpcUrl, chainId: 31338 + i, addresses: await deployScenario(node.rpcUrl) };
		}
		const c = await connect(shared.rpcUrl, ANVIL_KEY_0);
		const hash = await c.walletClient.deployContract({ abi: verifier.abi, bytecode: verifier.bytecode });
		const receipt = await c.publicClient.waitForTransactionReceipt({ hash });
		if (!receipt.contractAddress) throw new Error("UsageProofCheck deployment failed");
		const fixture: ChainFixture = {
			adminKey: ANVIL_KEY_0,
			rpcUrl: shared.rpcUrl,
			faultyRpcUrl: faults.url,
			chainId: 31337,
			deployments,
			isolated,
			usageProofCheck: receipt.contractAddress,
		};
		project.provide("chain", fixture);
		console.log(
			`anvil-setup: ${nodes.length} anvil nodes, ${SHARED_DEPLOYMENTS.length + ISOLATED_NODES.length} deployments in ${Date.now() - started} ms`,
		);
	} catch (error) {
		for (const node of nodes) node.process.kill();
		closeFaults();
		throw error;
	}
	return async () => {
		for (const node of nodes) node.process.kill();
		closeFaults();
	};
}

declare module "vitest" {
	export interface ProvidedContext {
		chain: ChainFixture;
	}
}
