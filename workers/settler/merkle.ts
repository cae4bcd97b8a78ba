import { type Address, getAddress } from "viem";
import { buildUsageTree, type UsageLeaf, type UsageTree } from "../../lib/chain/usage-tree.ts";

// One epoch's usage rows → one leaf per (payer, model) and per-model fees.
// Sums are bigint (fees) and plain numbers (token counts fit easily).

export interface EpochUsageRow {
	payer: string;
	modelId: string;
	token: string | null;
	promptTokens: number;
	completionTokens: number;
	fee: bigint;
}

export interface EpochLeaf extends UsageLeaf {
	modelId: string;
}

export interface EpochAggregate {
	leaves: EpochLeaf[];
	/** Fees of the epoch per model id, with the model's token. */
	feesByModel: Map<string, { token: Address; fees: bigint }>;
	tree: UsageTree;
}

export function aggregateEpoch(epoch: number, rows: EpochUsageRow[]): EpochAggregate {
	const leaves = new Map<string, EpochLeaf>();
	const feesByModel = new Map<string, { token: Address; fees: bigint }>();
	for (const row of rows) {
		if (!row.token) continue;
		const token = getAddress(row.token);
		const payer = getAddress(row.payer);
		const id = `${payer}|${token}`;
		const leaf = leaves.get(id) ?? {
			epoch: BigInt(epoch),
			payer,
			model: token,
			modelId: row.modelId,
			inputTokens: 0n,
			outputTokens: 0n,
			fee: 0n,
		};
		leaf.inputTokens += BigInt(row.promptTokens);
		leaf.outputTokens += BigInt(row.completionTokens);
		leaf.fee += row.fee;
		leaves.set(id, leaf);
		const model = feesByModel.get(row.modelId) ?? { token, fees: 0n };
		model.fees += row.fee;
		feesByModel.set(row.modelId, model);
	}
	const list = [...leaves.values()];
	return { leaves: list, feesByModel, tree: buildUsageTree(list) };
}
