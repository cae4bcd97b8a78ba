// modeldex claim <model>: the holder's accrued PACA revenue (ModelToken.claim), and, for the
// model's creator, the creator fees the vault keeps for it (RevenueVault.claimCreatorFees).
import type { Abi } from "viem";
import { modelTokenAbi, revenueVaultAbi } from "../../lib/chain/abis.ts";
import { connectSigner, eventsOf, explainChainError, resolveModel, sendTransaction } from "../chain.ts";
import { paca } from "../output.ts";
import type { Command } from "./common.ts";

export const claim: Command = {
	name: "claim",
	summary: "Claim your share of a model's revenue (and its creator fees, if you created it)",
	usage: "claim <model>",
	description: "<model> is a gateway model id (org/name) or the model's token address.",
	options: {},
	optionHelp: [],
	arity: [1, 1],
	async run({ config, out, args }) {
		const ctx = await connectSigner(config, out);
		const model = await resolveModel(ctx, args[0] ?? "");
		const me = ctx.account.address;
		try {
			const [claimable, dripPeriod, creator] = await Promise.all([
				ctx.publicClient.readContract({ address: model.token, abi: modelTokenAbi, functionName: "claimable", args: [me] }),
				ctx.publicClient.readContract({ address: model.token, abi: modelTokenAbi, functionName: "dripPeriod" }),
				ctx.publicClient.readContract({
					address: ctx.addresses.revenueVault,
					abi: revenueVaultAbi,
					functionName: "creatorOf",
					args: [model.token],
				}),
			]);
			const isCreator = creator.toLowerCase() === me.toLowerCase();
			const creatorOwed = isCreator
				? await ctx.publicClient.readContract({
						address: ctx.addresses.revenueVault,
						abi: revenueVaultAbi,
						functionName: "creatorFeesOwed",
						args: [model.token],
					})
				: 0n;
			let holderClaimed = 0n;
			let creatorClaimed = 0n;
			const transactions: string[] = [];
			if (claimable > 0n) {
				const receipt = await sendTransaction(ctx, `Claiming ${model.symbol} holder revenue`, {
					address: model.token,
					abi: modelTokenAbi as Abi,
					functionName: "claim",
				});
				holderClaimed =
					(eventsOf(receipt, modelTokenAbi as Abi).find((e) => e.eventName === "Claimed")?.args.amount as bigint) ?? 0n;
				transactions.push(receipt.transactionHash);
			}
			if (creatorOwed > 0n) {
				const receipt = await sendTransaction(ctx, `Claiming ${model.symbol} creator fees`, {
					address: ctx.addresses.revenueVault,
					abi: revenueVaultAbi as Abi,
					functionName: "claimCreatorFees",
					args: [model.token],
				});
				creatorClaimed =
					(eventsOf(receipt, revenueVaultAbi as Abi).find((e) => e.eventName === "CreatorFeesClaimed")?.args.amount as bigint) ??
					0n;
				transactions.push(receipt.transactionHash);
			}
			out.result(
				{
					model: model.id,
					token: model.token,
					symbol: model.symbol,
					account: me,
					holder_revenue: holderClaimed,
					creator_fees: creatorClaimed,
					total: holderClaimed + creatorClaimed,
					transactions,
				},
				() =>
					holderClaimed + creatorClaimed === 0n
						? [
								`Nothing to claim from ${model.symbol} for ${me} yet.`,
								`Revenue reaches holders after each settlement and drips over ${duration(Number(dripPeriod))}; hold ${model.symbol} and claim later.`,
							]
						: [
								...(holderClaimed > 0n ? [`Claimed ${paca(holderClaimed)} of ${model.symbol} holder revenue.`] : []),
								...(creatorClaimed > 0n ? [`Claimed ${paca(creatorClaimed)} of ${model.symbol} creator fees.`] : []),
							],
			);
		} catch (error) {
			throw explainChainError(ctx, error);
		}
	},
};

/** A drip period as a person says it: "1 hour", "7 days", "90 minutes". */
function duration(seconds: number): string {
	const unit =
		seconds % 86_400 === 0
			? { name: "day", seconds: 86_400 }
			: seconds % 3_600 === 0
				? { name: "hour", seconds: 3_600 }
				: { name: "minute", seconds: 60 };
	const count = seconds / unit.seconds;
	return `${Number.isInteger(count) ? count : count.toFixed(1)} ${unit.name}${count === 1 ? "" : "s"}`;
}
