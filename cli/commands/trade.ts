// modeldex buy|sell <model> <amount>: on the IMO bonding curve while the sale is open, on the
// model's Uniswap V2 pool after Singularity. Every trade carries a minimum out and a deadline.
import type { Abi, Address } from "viem";
import { modelSaleAbi, modelTokenAbi, uniswapV2Router02Abi } from "../../lib/chain/abis.ts";
import { formatPaca } from "../../lib/money.ts";
import {
	connectSigner,
	deadlineIn,
	ensureAllowance,
	eventsOf,
	explainChainError,
	type ResolvedModel,
	resolveModel,
	SALE_STATES,
	type SignerContext,
	sendTransaction,
} from "../chain.ts";
import { CliError } from "../errors.ts";
import { paca, tokens } from "../output.ts";
import {
	type Command,
	parseAddress,
	parseAmount,
	parseSeconds,
	parseSlippage,
	type RunContext,
	str,
	tradeOptionHelp,
	tradeOptions,
} from "./common.ts";

interface TradePlan {
	venue: "curve" | "pool";
	quote: bigint;
	minOut: bigint;
	deadline: bigint;
	recipient: Address;
}

async function balanceOf(ctx: SignerContext, token: Address, who: Address): Promise<bigint> {
	return ctx.publicClient.readContract({ address: token, abi: modelTokenAbi, functionName: "balanceOf", args: [who] });
}

async function saleState(ctx: SignerContext, model: ResolvedModel): Promise<(typeof SALE_STATES)[number]> {
	const state = await ctx.publicClient.readContract({ address: model.sale, abi: modelSaleAbi, functionName: "state" });
	return SALE_STATES[state] ?? "uninitialized";
}

function closedError(model: ResolvedModel): CliError {
	return new CliError("graduation_pending", `${model.symbol}'s curve is sold out and its graduation to Uniswap is pending.`, {
		hint: `Anyone can finish it by calling graduate() on the sale ${model.sale}; then trade again (on the pool).`,
	});
}

/** The trade's options, checked before anything is read from the chain: a typo is a usage error (exit 2), also when the chain is down. */
interface TradeFlags {
	/** --min-out, or else the --slippage in basis points. */
	minOut: bigint | undefined;
	slippageBps: bigint;
	deadlineSeconds: number;
	to: Address | undefined;
}

function tradeFlags(values: RunContext["values"]): TradeFlags {
	const explicit = str(values, "min-out");
	const to = str(values, "to");
	return {
		minOut: explicit === undefined ? undefined : parseAmount(explicit, "--min-out", 18),
		slippageBps: explicit === undefined ? parseSlippage(str(values, "slippage")) : 0n,
		deadlineSeconds: parseSeconds(str(values, "deadline"), 1200, "--deadline"),
		to: to === undefined ? undefined : parseAddress(to, "--to"),
	};
}

async function plan(ctx: SignerContext, flags: TradeFlags, venue: TradePlan["venue"], quote: bigint): Promise<TradePlan> {
	const minOut = flags.minOut ?? (quote * (10_000n - flags.slippageBps)) / 10_000n;
	// The quote was read just now: a minimum above it would only be refused after an approval was
	// signed and paid for (the trade's own check), so it is refused here, before anything is signed.
	if (minOut > quote) {
		throw new CliError(
			"revert_SlippageExceeded",
			`The price moved: the trade would give ${formatPaca(quote)}, below your minimum of ${formatPaca(minOut)}.`,
			{ hint: "Run it again, or allow more slippage with --slippage <percent>." },
		);
	}
	return {
		venue,
		quote,
		minOut,
		deadline: await deadlineIn(ctx, flags.deadlineSeconds),
		recipient: flags.to ?? ctx.account.address,
	};
}

/** The wallet holds too little PACA, or too few of the model token `symbol` when one is given. */
function notEnough(ctx: SignerContext, have: bigint, need: bigint, symbol?: string): CliError {
	const isPaca = symbol === undefined;
	return new CliError(
		isPaca ? "insufficient_paca" : "insufficient_tokens",
		`Your wallet ${ctx.account.address} holds ${isPaca ? paca(have) : tokens(have, symbol)}; this needs ${isPaca ? paca(need) : tokens(need, symbol)}.`,
		{
			hint: isPaca
				? ctx.addresses.pacaIsLocalStandIn
					? "On the local stack, get PACA with `modeldex faucet <amount>`."
					: "Top up the wallet with PACA, or use a smaller amount."
				: "Sell at most what you hold (see `modeldex balance <model>`).",
		},
	);
}

export const buy: Command = {
	name: "buy",
	summary: "Buy a model's tokens with PACA (IMO curve, or its pool after Singularity)",
	usage: "buy <model> <PACA amount>",
	description: "<model> is a gateway model id (org/name) or the model's token address. The amount is the PACA to spend.",
	options: tradeOptions,
	optionHelp: tradeOptionHelp,
	arity: [2, 2],
	async run({ config, out, args, values }) {
		const amountIn = parseAmount(args[1], "the PACA amount to spend");
		const flags = tradeFlags(values);
		const ctx = await connectSigner(config, out);
		const model = await resolveModel(ctx, args[0] ?? "");
		const paca_ = ctx.addresses.paca;
		const state = await saleState(ctx, model);
		try {
			if (state === "closed") throw closedError(model);
			if (state === "open") {
				const [tokensOut, pacaPaid] = await ctx.publicClient.readContract({
					address: model.sale,
					abi: modelSaleAbi,
					functionName: "quoteBuy",
					args: [amountIn],
				});
				if (tokensOut === 0n)
					throw new CliError("amount_too_small", `${paca(amountIn)} buys no ${model.symbol}.`, { hint: "Spend more." });
				const p = await plan(ctx, flags, "curve", tokensOut);
				const have = await balanceOf(ctx, paca_, ctx.account.address);
				if (have < pacaPaid) throw notEnough(ctx, have, pacaPaid);
				await ensureAllowance(ctx, paca_, model.sale, amountIn, `${paca(amountIn)} for the sale`);
				const receipt = await sendTransaction(ctx, `Buying ${model.symbol} with ${paca(amountIn)} on the IMO curve`, {
					address: model.sale,
					abi: modelSaleAbi as Abi,
					functionName: "buy",
					args: [amountIn, p.minOut, p.recipient, p.deadline],
				});
				const events = eventsOf(receipt, modelSaleAbi as Abi);
				const trade = events.find((e) => e.eventName === "Trade");
				const graduated = events.find((e) => e.eventName === "Graduated");
				const bought = (trade?.args.tokenAmount as bigint | undefined) ?? 0n;
				const paid = (trade?.args.pacaAmount as bigint | undefined) ?? 0n;
				const fee = (trade?.args.fee as bigint | undefined) ?? 0n;
				// realPacaReserve() reads 0 once graduated (the raise went into the pool): the raise
				// is then the trade's virtual PACA reserve less the initial one, as the indexer derives it.
				const raised = graduated
					? (trade?.args.virtualPaca as bigint) -
						(
							await ctx.publicClient.readContract({
								address: model.sale,
								abi: modelSaleAbi,
								functionName: "initialVirtualReserves",
							})
						)[0]
					: await ctx.publicClient.readContract({
							address: model.sale,
							abi: modelSaleAbi,
							functionName: "realPacaReserve",
						});
				out.result(
					{
						side: "buy",
						venue: "curve",
						model: model.id,
						token: model.token,
						symbol: model.symbol,
						paid,
						fee,
						received: bought,
						min_out: p.minOut,
						recipient: p.recipient,
						raised,
						graduated: graduated ? { pair: graduated.args.pair as Address } : null,
						transaction: receipt.transactionHash,
					},
					() => [
						`Bought ${tokens(bought, model.symbol)} for ${paca(paid)} (fee ${paca(fee)}) on the IMO curve.`,
						...(graduated
							? [
									`The curve raised ${paca(raised)}.`,
									`Singularity: this buy sold out the curve; ${model.symbol} now trades on Uniswap V2 (${String(graduated.args.pair)}).`,
								]
							: [`The curve has raised ${paca(raised)}.`]),
					],
				);
				return;
			}
			if (state !== "graduated") throw new CliError("sale_not_ready", `${model.symbol}'s sale is not initialized.`);
			const router = ctx.addresses.uniswapV2Router02;
			const path = [paca_, model.token] as const;
			const amounts = await ctx.publicClient.readContract({
				address: router,
				abi: uniswapV2Router02Abi,
				functionName: "getAmountsOut",
				args: [amountIn, [...path]],
			});
			const p = await plan(ctx, flags, "pool", amounts[1] ?? 0n);
			const have = await balanceOf(ctx, paca_, ctx.account.address);
			if (have < amountIn) throw notEnough(ctx, have, amountIn);
			const before = await balanceOf(ctx, model.token, p.recipient);
			await ensureAllowance(ctx, paca_, router, amountIn, `${paca(amountIn)} for the Uniswap router`);
			const receipt = await sendTransaction(ctx, `Buying ${model.symbol} with ${paca(amountIn)} on Uniswap V2`, {
				address: router,
				abi: uniswapV2Router02Abi as Abi,
				functionName: "swapExactTokensForTokens",
				args: [amountIn, p.minOut, [...path], p.recipient, p.deadline],
			});
			const received = (await balanceOf(ctx, model.token, p.recipient)) - before;
			out.result(
				{
					side: "buy",
					venue: "pool",
					model: model.id,
					token: model.token,
					symbol: model.symbol,
					paid: amountIn,
					fee: null,
					received,
					min_out: p.minOut,
					recipient: p.recipient,
					graduated: null,
					transaction: receipt.transactionHash,
				},
				() => [`Bought ${tokens(received, model.symbol)} for ${paca(amountIn)} on the Uniswap V2 pool.`],
			);
		} catch (error) {
			throw explainChainError(ctx, error);
		}
	},
};

export const sell: Command = {
	name: "sell",
	summary: "Sell a model's tokens for PACA (IMO curve, or its pool after Singularity)",
	usage: "sell <model> <token amount>",
	description: "<model> is a gateway model id (org/name) or the model's token address. The amount is in the model's tokens.",
	options: tradeOptions,
	optionHelp: tradeOptionHelp,
	arity: [2, 2],
	async run({ config, out, args, values }) {
		const amountIn = parseAmount(args[1], "the token amount to sell");
		const flags = tradeFlags(values);
		const ctx = await connectSigner(config, out);
		const model = await resolveModel(ctx, args[0] ?? "");
		const state = await saleState(ctx, model);
		try {
			if (state === "closed") throw closedError(model);
			const have = await balanceOf(ctx, model.token, ctx.account.address);
			if (have < amountIn) throw notEnough(ctx, have, amountIn, model.symbol);
			if (state === "open") {
				const sold = await ctx.publicClient.readContract({ address: model.sale, abi: modelSaleAbi, functionName: "tokensSold" });
				if (amountIn > sold) {
					throw new CliError(
						"revert_InsufficientCurveLiquidity",
						`The curve has sold only ${tokens(sold, model.symbol)}, so it cannot buy back ${tokens(amountIn, model.symbol)}.`,
						{
							hint: `Sell at most ${tokens(sold, model.symbol)} on the curve now, or the rest after the model graduates to its Uniswap pool.`,
						},
					);
				}
				const [pacaOut] = await ctx.publicClient.readContract({
					address: model.sale,
					abi: modelSaleAbi,
					functionName: "quoteSell",
					args: [amountIn],
				});
				const p = await plan(ctx, flags, "curve", pacaOut);
				// No approval: the token lets its own sale pull from the seller.
				const receipt = await sendTransaction(ctx, `Selling ${tokens(amountIn, model.symbol)} on the IMO curve`, {
					address: model.sale,
					abi: modelSaleAbi as Abi,
					functionName: "sell",
					args: [amountIn, p.minOut, p.recipient, p.deadline],
				});
				const trade = eventsOf(receipt, modelSaleAbi as Abi).find((e) => e.eventName === "Trade");
				const received = (trade?.args.pacaAmount as bigint | undefined) ?? 0n;
				const fee = (trade?.args.fee as bigint | undefined) ?? 0n;
				out.result(
					{
						side: "sell",
						venue: "curve",
						model: model.id,
						token: model.token,
						symbol: model.symbol,
						paid: amountIn,
						fee,
						received,
						min_out: p.minOut,
						recipient: p.recipient,
						transaction: receipt.transactionHash,
					},
					() => [`Sold ${tokens(amountIn, model.symbol)} for ${paca(received)} (fee ${paca(fee)}) on the IMO curve.`],
				);
				return;
			}
			if (state !== "graduated") throw new CliError("sale_not_ready", `${model.symbol}'s sale is not initialized.`);
			const router = ctx.addresses.uniswapV2Router02;
			const path = [model.token, ctx.addresses.paca] as const;
			const amounts = await ctx.publicClient.readContract({
				address: router,
				abi: uniswapV2Router02Abi,
				functionName: "getAmountsOut",
				args: [amountIn, [...path]],
			});
			const p = await plan(ctx, flags, "pool", amounts[1] ?? 0n);
			const before = await balanceOf(ctx, ctx.addresses.paca, p.recipient);
			await ensureAllowance(ctx, model.token, router, amountIn, `${tokens(amountIn, model.symbol)} for the Uniswap router`);
			const receipt = await sendTransaction(ctx, `Selling ${tokens(amountIn, model.symbol)} on Uniswap V2`, {
				address: router,
				abi: uniswapV2Router02Abi as Abi,
				functionName: "swapExactTokensForTokens",
				args: [amountIn, p.minOut, [...path], p.recipient, p.deadline],
			});
			const received = (await balanceOf(ctx, ctx.addresses.paca, p.recipient)) - before;
			out.result(
				{
					side: "sell",
					venue: "pool",
					model: model.id,
					token: model.token,
					symbol: model.symbol,
					paid: amountIn,
					fee: null,
					received,
					min_out: p.minOut,
					recipient: p.recipient,
					transaction: receipt.transactionHash,
				},
				() => [`Sold ${tokens(amountIn, model.symbol)} for ${paca(received)} on the Uniswap V2 pool.`],
			);
		} catch (error) {
			throw explainChainError(ctx, error);
		}
	},
};
