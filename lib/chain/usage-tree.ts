import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { type Address, getAddress, type Hex } from "viem";

// The usage Merkle tree of one settlement epoch. One leaf per (payer, model):
// (uint64 epoch, address payer, address model, uint256 inputTokens,
//  uint256 outputTokens, uint256 fee), hashed as OpenZeppelin's StandardMerkleTree
// does: keccak256(bytes.concat(keccak256(abi.encode(leaf)))). On chain:
//   MerkleProof.verify(proof, vault.usageRoot(epoch), keccak256(bytes.concat(keccak256(
//       abi.encode(epoch, payer, model, inputTokens, outputTokens, fee)))))

export const USAGE_LEAF_ENCODING = ["uint64", "address", "address", "uint256", "uint256", "uint256"] as const;

export interface UsageLeaf {
	epoch: bigint;
	payer: Address;
	/** The model's ModelToken address (the on-chain model). */
	model: Address;
	inputTokens: bigint;
	outputTokens: bigint;
	fee: bigint;
}

type Encoded = [string, string, string, string, string, string];

function encode(leaf: UsageLeaf): Encoded {
	return [
		leaf.epoch.toString(),
		getAddress(leaf.payer),
		getAddress(leaf.model),
		leaf.inputTokens.toString(),
		leaf.outputTokens.toString(),
		leaf.fee.toString(),
	];
}

/** Canonical leaf order (payer, then model), so the same leaves always give the same tree. */
function byPayerThenModel(a: UsageLeaf, b: UsageLeaf): number {
	const pa = a.payer.toLowerCase();
	const pb = b.payer.toLowerCase();
	if (pa !== pb) return pa < pb ? -1 : 1;
	const ma = a.model.toLowerCase();
	const mb = b.model.toLowerCase();
	return ma < mb ? -1 : ma > mb ? 1 : 0;
}

export interface UsageTree {
	/** bytes32 root; the zero hash for an epoch without usage. */
	root: Hex;
	proofFor(leaf: UsageLeaf): Hex[];
}

const EMPTY_ROOT: Hex = `0x${"0".repeat(64)}`;

export function buildUsageTree(leaves: UsageLeaf[]): UsageTree {
	if (leaves.length === 0) {
		return {
			root: EMPTY_ROOT,
			proofFor: () => {
				throw new Error("an empty epoch has no leaves");
			},
		};
	}
	const sorted = [...leaves].sort(byPayerThenModel);
	const tree = StandardMerkleTree.of(sorted.map(encode), [...USAGE_LEAF_ENCODING]);
	return {
		root: tree.root as Hex,
		proofFor: (leaf) => tree.getProof(encode(leaf)) as Hex[],
	};
}
