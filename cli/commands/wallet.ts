// modeldex balance [model]   wallet ETH/PACA (and a model's tokens and claimable revenue), plus gateway credit
// modeldex faucet [amount]   local stack only: ETH for gas and PACA from the LocalPaca stand-in
// modeldex config            where the CLI points, and why (flag, environment, default)
import { existsSync } from "node:fs";
import { type Abi, createTestClient, http, parseEther } from "viem";
import { localPacaAbi, modelTokenAbi } from "../../lib/chain/abis.ts";
import { connectChain, connectSigner, explainChainError, resolveModel, sendTransaction } from "../chain.ts";
import { loadWallet, walletFile } from "../config.ts";
import { CliError } from "../errors.ts";
import { currentSession, Gateway, sessionFile } from "../gateway.ts";
import { display, paca, tokens } from "../output.ts";
import { type Command, parseAmount } from "./common.ts";

const GAS_MONEY = parseEther("10");

export const faucet: Command = {
	name: "faucet",
	summary: "Local stack only: ETH for gas and PACA from the local stand-in",
	usage: "faucet [PACA amount]",
	description: "Mints PACA from the LocalPaca stand-in (default 1000) and, on anvil, tops the wallet up to 10 ETH for gas.",
	options: {},
	optionHelp: [],
	arity: [0, 1],
	async run({ config, out, args }) {
		const amount = parseAmount(args[0] ?? "1000", "the PACA amount");
		const ctx = await connectSigner(config, out);
		if (!ctx.addresses.pacaIsLocalStandIn) {
			throw new CliError(
				"no_faucet",
				`PACA on chain ${ctx.chain.id} is the real token (${ctx.addresses.paca}); there is no faucet.`,
				{
					hint: "Buy or transfer PACA to your wallet instead.",
				},
			);
		}
		const me = ctx.account.address;
		let ethAdded = false;
		const eth = await ctx.publicClient.getBalance({ address: me });
		if (eth < GAS_MONEY) {
			const step = out.step("Topping up ETH for gas");
			try {
				await createTestClient({ mode: "anvil", transport: http(config.rpcUrl) }).setBalance({ address: me, value: GAS_MONEY });
				ethAdded = true;
				step.done("10 ETH");
			} catch {
				step.fail();
				if (eth === 0n) {
					throw new CliError(
						"no_gas_money",
						`Your wallet ${me} has no ETH for gas, and ${config.rpcUrl} does not support anvil_setBalance.`,
						{
							hint: `Send it some ETH from one of the node's funded accounts, e.g. \`cast send ${me} --value 1ether --private-key <funded key>\`.`,
						},
					);
				}
			}
		}
		try {
			await sendTransaction(ctx, `Minting ${paca(amount)} from the local faucet`, {
				address: ctx.addresses.paca,
				abi: localPacaAbi as Abi,
				functionName: "faucet",
				args: [me, amount],
			});
			const balance = await ctx.publicClient.readContract({
				address: ctx.addresses.paca,
				abi: modelTokenAbi,
				functionName: "balanceOf",
				args: [me],
			});
			out.result({ address: me, minted: amount, paca: balance, eth_topped_up: ethAdded }, () => [
				`Gave ${me} ${paca(amount)}${ethAdded ? " and 10 ETH for gas" : ""}; it now holds ${paca(balance)}.`,
			]);
		} catch (error) {
			throw explainChainError(ctx, error);
		}
	},
};

interface AccountBody {
	payer: string;
	balance: string;
	held: string;
	available: string;
	/** Absent from gateways older than it. */
	withdrawable?: string;
}

export const balance: Command = {
	name: "balance",
	summary: "Your wallet's ETH and PACA, a model's tokens, and your API credit",
	usage: "balance [model]",
	options: {},
	optionHelp: [],
	arity: [0, 1],
	async run({ config, out, args }) {
		const ctx = await connectSigner(config, out);
		const me = ctx.account.address;
		try {
			const [eth, pacaBalance] = await Promise.all([
				ctx.publicClient.getBalance({ address: me }),
				ctx.publicClient.readContract({ address: ctx.addresses.paca, abi: modelTokenAbi, functionName: "balanceOf", args: [me] }),
			]);
			let model: { id: string | null; token: string; symbol: string; balance: bigint; claimable: bigint } | null = null;
			if (args[0]) {
				const m = await resolveModel(ctx, args[0]);
				const [held, claimable] = await Promise.all([
					ctx.publicClient.readContract({ address: m.token, abi: modelTokenAbi, functionName: "balanceOf", args: [me] }),
					ctx.publicClient.readContract({ address: m.token, abi: modelTokenAbi, functionName: "claimable", args: [me] }),
				]);
				model = { id: m.id, token: m.token, symbol: m.symbol, balance: held, claimable };
			}
			let credit: AccountBody | null = null;
			let creditNote: string;
			const session = currentSession(config);
			if (!session) {
				creditNote = "not signed in (`modeldex login` to see your API credit)";
			} else {
				try {
					credit = await new Gateway(config.gatewayUrl).request<AccountBody>("GET", "/v1/account", { token: session.token });
					creditNote =
						`${paca(BigInt(credit.available))} available (${paca(BigInt(credit.held))} held for requests in flight` +
						(credit.withdrawable !== undefined && credit.withdrawable !== credit.available
							? `; ${paca(BigInt(credit.withdrawable))} withdrawable, the rest was granted, not deposited)`
							: ")");
				} catch (error) {
					creditNote = `unavailable: ${(error as Error).message}`;
				}
			}
			out.result(
				{
					address: me,
					chain_id: ctx.chain.id,
					eth,
					paca: pacaBalance,
					model,
					credit: credit
						? {
								balance: credit.balance,
								held: credit.held,
								available: credit.available,
								...(credit.withdrawable !== undefined ? { withdrawable: credit.withdrawable } : {}),
							}
						: null,
				},
				() => [
					`wallet       ${me}`,
					`ETH          ${display(eth)} ETH`,
					`PACA         ${paca(pacaBalance)}`,
					...(model
						? [
								`${model.symbol.padEnd(12)} ${tokens(model.balance, model.symbol)}`,
								`claimable    ${paca(model.claimable)} (\`modeldex claim ${args[0]}\`)`,
							]
						: []),
					`API credit   ${creditNote}`,
				],
			);
		} catch (error) {
			throw explainChainError(ctx, error);
		}
	},
};

export const configCommand: Command = {
	name: "config",
	summary: "Show where the CLI points (gateway, chain, files, wallet) and why",
	usage: "config",
	options: {},
	optionHelp: [],
	arity: [0, 0],
	async run({ config, out }) {
		let wallet: { address: string; source: string } | null = null;
		let walletNote: string;
		const hasKey = config.keyFile || process.env.MODELDEX_PRIVATE_KEY || existsSync(walletFile(config));
		if (hasKey) {
			try {
				const w = loadWallet(config);
				wallet = { address: w.account.address, source: w.source };
				walletNote = `${w.account.address} (from ${w.source})`;
			} catch (error) {
				walletNote = `error: ${(error as Error).message}`;
			}
		} else {
			walletNote = `none yet (${walletFile(config)} is created on first use for a local chain; else set MODELDEX_PRIVATE_KEY)`;
		}
		let chainNote = "";
		try {
			const ctx = await connectChain(config, out);
			chainNote = `chain ${ctx.chain.id}, factory ${ctx.addresses.modelFactory}`;
		} catch (error) {
			chainNote = error instanceof CliError ? `not usable: ${error.message}` : String(error);
		}
		const session = currentSession(config);
		out.result(
			{
				gateway: config.gatewayUrl,
				rpc: config.rpcUrl,
				chain_id: config.chainId ?? null,
				home: config.home,
				addresses: config.addressesFile,
				hf_endpoint: config.hfEndpoint,
				wallet,
				session: session ? { payer: session.payer, expires_at: session.expires_at } : null,
				sources: config.sources,
			},
			() => [
				`gateway      ${config.gatewayUrl}  [${config.sources.gateway}]`,
				`rpc          ${config.rpcUrl}  [${config.sources.rpc}]  ${chainNote}`,
				`addresses    ${config.addressesFile}  [${config.sources.addresses}]`,
				`home         ${config.home}  [${config.sources.home}]`,
				`huggingface  ${config.hfEndpoint}  [${config.sources.hfEndpoint}]${config.hfToken ? " (HF_TOKEN set)" : ""}`,
				`wallet       ${walletNote}`,
				`session      ${session ? `${session.payer}, until ${new Date(session.expires_at * 1000).toISOString()} (${sessionFile(config)})` : "not signed in"}`,
			],
		);
	},
};
