// The shape of what test/node/anvil-setup.ts provides (kept free of Node imports,
// so the workerd tests can use it).

export interface DeployedAddresses {
	chainId: number;
	startBlock: number;
	paca: `0x${string}`;
	revenueVault: `0x${string}`;
	modelFactory: `0x${string}`;
	uniswapV2Router02: `0x${string}`;
	settler: `0x${string}`;
	protocolFeeBps: number;
	creatorFeeBps: number;
}

export interface Deployment extends DeployedAddresses {
	/** Holds SETTLER_ROLE on this deployment's vault (a key per deployment: no shared nonces). */
	settlerKey: `0x${string}`;
}

export interface ChainFixture {
	/** The deployer of every test deployment: the vault's admin and guardian (anvil's first default account). */
	adminKey: `0x${string}`;
	rpcUrl: string;
	/** The shared node behind test/node/rpc-faults.ts: `${faultyRpcUrl}/<scope>` fails the calls a test asks it to. */
	faultyRpcUrl: string;
	chainId: number;
	/** One independent deployment per test scenario on the shared node. */
	deployments: Record<string, Deployment>;
	/**
	 * Nodes of their own, by scenario ("reorg": snapshot/revert; "stuck": automine off; "confirmations": blocks mined
	 * on demand, snapshot/revert), each with a rpc-faults proxy.
	 */
	isolated: Record<string, { rpcUrl: string; faultyRpcUrl: string; chainId: number; addresses: Deployment }>;
	/** UsageProofCheck: MerkleProof.verify against RevenueVault.usageRoot(epoch). */
	usageProofCheck: `0x${string}`;
}
