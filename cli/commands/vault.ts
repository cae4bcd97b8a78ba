// modeldex deposit <amount>: PACA into the RevenueVault's escrow, credited to a payer by the indexer.
// modeldex withdraw <amount>: unused credit back out.
//
// Withdrawals: the vault pays them only from SETTLER_ROLE (payWithdrawal(payer, amount, id),
// idempotent per id), after the gateway has locked the amount in the payer's ledger. So a payer
// asks the gateway (POST /v1/account/withdrawals with the session; GET lists them) and the settler
// pays on chain. A gateway without that route gets a clear error. `--settler` is the operator's way
// in: it calls payWithdrawal with the settler key directly, and does not touch the off-chain ledger.
import { type Abi, type Address, type Hex, keccak256, stringToHex } from "viem";
import { modelTokenAbi, revenueVaultAbi } from "../../lib/chain/abis.ts";
import { connectSigner, ensureAllowance, eventsOf, explainChainError, sendTransaction } from "../chain.ts";
import { isLocalUrl } from "../config.ts";
import { CliError, usageError } from "../errors.ts";
import { Gateway, requireStoredSession } from "../gateway.ts";
import { type Output, paca, table } from "../output.ts";
import { type Command, parseAddress, parseAmount, parseSeconds, str } from "./common.ts";

export const deposit: Command = {
	name: "deposit",
	summary: "Deposit PACA into the RevenueVault as API credit",
	usage: "deposit <PACA amount>",
	description:
		"Approves and calls RevenueVault.deposit(payer, amount). The gateway credits the payer once its indexer has seen\n" +
		"the Deposited event; `modeldex balance` shows the credit.",
	options: { for: { type: "string" }, wait: { type: "boolean" }, "wait-timeout": { type: "string" } },
	optionHelp: [
		["--for <address>", "the payer to credit (default: your wallet)"],
		["--wait", "after the transaction, wait until the gateway has credited it (needs `modeldex login`)"],
		["--wait-timeout <seconds>", "how long --wait waits (default 300)"],
	],
	arity: [1, 1],
	async run({ config, out, args, values }) {
		const amount = parseAmount(args[0], "the PACA amount to deposit");
		const forFlag = str(values, "for");
		const forPayer = forFlag ? parseAddress(forFlag, "--for") : null;
		const waitSeconds = parseSeconds(str(values, "wait-timeout"), 300, "--wait-timeout");
		// Checked before anything is sent: --wait reads the credit through the signed-in session.
		const session = values.wait ? requireStoredSession(config) : null;
		const ctx = await connectSigner(config, out);
		const payer = forPayer ?? ctx.account.address;
		if (session && session.payer.toLowerCase() !== payer.toLowerCase()) {
			throw new CliError(
				"wait_other_payer",
				`--wait follows ${session.payer}'s credit (the signed-in payer), but this deposit is for ${payer}.`,
				{
					hint: "Drop --wait, or sign in as the payer (`modeldex login` with its key).",
				},
			);
		}
		const { paca: pacaAddress, revenueVault } = ctx.addresses;
		try {
			const have = await ctx.publicClient.readContract({
				address: pacaAddress,
				abi: modelTokenAbi,
				functionName: "balanceOf",
				args: [ctx.account.address],
			});
			if (have < amount) {
				throw new CliError(
					"insufficient_paca",
					`Your wallet ${ctx.account.address} holds ${paca(have)}; the deposit needs ${paca(amount)}.`,
					{
						hint: ctx.addresses.pacaIsLocalStandIn
							? "On the local stack, get PACA with `modeldex faucet <amount>`."
							: "Top up the wallet with PACA, or deposit less.",
					},
				);
			}
			await ensureAllowance(ctx, pacaAddress, revenueVault, amount, `${paca(amount)} for the vault`);
			const receipt = await sendTransaction(ctx, `Depositing ${paca(amount)} for ${payer}`, {
				address: revenueVault,
				abi: revenueVaultAbi as Abi,
				functionName: "deposit",
				args: [payer, amount],
			});
			const event = eventsOf(receipt, revenueVaultAbi as Abi).find((e) => e.eventName === "Deposited");
			const received = (event?.args.amount as bigint | undefined) ?? amount;
			const credit = session
				? await waitForCredit(config.gatewayUrl, session.token, receipt.transactionHash, waitSeconds, ctx.local, out)
				: null;
			out.result(
				{
					payer,
					from: ctx.account.address,
					amount: received,
					vault: revenueVault,
					transaction: receipt.transactionHash,
					block: receipt.blockNumber,
					credited: credit !== null,
					credit,
				},
				() => [
					`Deposited ${paca(received)} into the RevenueVault for ${payer}.`,
					credit
						? `The gateway has credited it: ${paca(BigInt(credit.available))} available for API calls.`
						: "The gateway credits it once its indexer has seen the deposit; check with `modeldex balance` (or use --wait).",
				],
			);
		} catch (error) {
			throw explainChainError(ctx, error);
		}
	},
};

export interface DepositList {
	/** `status` from gateways that list reorg-reversed deposits too; older ones send `credited` alone. */
	data: Array<{ tx_hash: string; credited: boolean; status?: "pending" | "credited" | "reversed" }>;
}

/**
 * Where the deposit made in `txHash` stands in the gateway's list. One transaction can be listed
 * twice: reversed (a reorg removed the block it was in) and again, mined in another block.
 */
export function depositState(list: DepositList, txHash: string): "credited" | "pending" | "reversed" | "unseen" {
	const rows = list.data.filter((d) => d.tx_hash.toLowerCase() === txHash.toLowerCase());
	if (rows.some((d) => d.credited)) return "credited";
	if (rows.some((d) => d.status !== "reversed")) return "pending";
	return rows.length > 0 ? "reversed" : "unseen";
}

const WAITING = {
	pending: "indexed; waiting for enough confirmations",
	reversed: "a chain reorg removed it and its credit was taken back; waiting for it to be mined again",
	unseen: "not seen by the indexer yet",
};

/** Polls the gateway until the indexer has credited the deposit made in `txHash`; returns the account. */
async function waitForCredit(
	gatewayUrl: string,
	token: string,
	txHash: string,
	seconds: number,
	local: boolean,
	out: Output,
): Promise<{ balance: string; available: string }> {
	const gateway = new Gateway(gatewayUrl);
	const step = out.step("Waiting for the gateway to credit the deposit");
	const deadline = Date.now() + seconds * 1000;
	try {
		for (;;) {
			const list = await gateway.request<DepositList>("GET", "/v1/account/deposits?include=reversed", { token });
			const state = depositState(list, txHash);
			if (state === "credited") {
				const account = await gateway.request<{ balance: string; available: string }>("GET", "/v1/account", { token });
				step.done(`${paca(BigInt(account.available))} available`);
				return { balance: account.balance, available: account.available };
			}
			step.update(WAITING[state]);
			if (Date.now() > deadline) {
				throw new CliError(
					"credit_timeout",
					`The deposit is on chain (${txHash}) but the gateway had not credited it after ${seconds}s.`,
					{
						hint: "The indexer may be behind or waiting for confirmations; check later with `modeldex balance`. The PACA is safe in the vault.",
					},
				);
			}
			await new Promise((r) => setTimeout(r, local ? 500 : 3_000));
		}
	} catch (error) {
		step.fail();
		if (error instanceof CliError && error.code === "credit_timeout") throw error;
		// The deposit is mined: the user must learn that, not only that the gateway failed, or a
		// retry deposits the PACA a second time.
		throw new CliError(
			"credit_unknown",
			`The deposit is on chain (${txHash}), but the gateway could not say whether it is credited: ${(error as Error).message}`,
			{ hint: "Do not deposit again: the PACA is in the vault. Check later with `modeldex balance`.", cause: error },
		);
	}
}

/** A withdrawal as the gateway shows it (POST/GET /v1/account/withdrawals). */
interface Withdrawal {
	id: string;
	amount: string;
	status: string;
	tx_hash: string | null;
	requested_at: number;
	paid_at: number | null;
}

/** Polls GET /v1/account/withdrawals until the settler has paid `id`. */
async function waitForPayout(gateway: Gateway, token: string, id: string, seconds: number, out: Output): Promise<Withdrawal> {
	const step = out.step("Waiting for the settler to pay it");
	const deadline = Date.now() + seconds * 1000;
	const local = isLocalUrl(gateway.baseUrl);
	try {
		for (;;) {
			const list = await gateway.request<{ data: Withdrawal[] }>("GET", "/v1/account/withdrawals", { token });
			const row = list.data.find((w) => w.id === id);
			if (row?.status === "paid") {
				step.done(row.tx_hash ? `tx ${row.tx_hash}` : undefined);
				return row;
			}
			if (row?.status === "refused") {
				throw new CliError("withdrawal_refused", `The gateway refused withdrawal ${id}.`, {
					hint: "Check your credit with `modeldex balance`.",
				});
			}
			step.update(row ? `status ${row.status}` : "not listed yet");
			if (Date.now() > deadline) {
				throw new CliError(
					"payout_timeout",
					`Withdrawal ${id} is ${row?.status ?? "requested"} but was not paid within ${seconds}s.`,
					{
						hint: "The settler pays withdrawals on its schedule; the amount stays locked for it. See `modeldex withdraw --list`.",
					},
				);
			}
			await new Promise((r) => setTimeout(r, local ? 500 : 5_000));
		}
	} catch (error) {
		step.fail();
		throw error;
	}
}

function unsupported(config: { gatewayUrl: string }): CliError {
	return new CliError(
		"withdrawals_unsupported",
		`The gateway at ${config.gatewayUrl} does not take withdrawal requests (/v1/account/withdrawals answered 404).`,
		{
			hint:
				"Withdrawals are paid on chain by the settler (RevenueVault.payWithdrawal). Ask the operator, or, holding the\n" +
				"settler key yourself (on the local stack: the deployer's), run `modeldex withdraw <amount> --settler --payer <address>`.",
		},
	);
}

const is404 = (error: unknown) => error instanceof CliError && (error.code === "not_found" || error.code === "http_404");

export const withdraw: Command = {
	name: "withdraw",
	summary: "Take unused API credit back out of the vault",
	usage: "withdraw <PACA amount> | withdraw --list",
	description:
		"Asks the gateway (signed in: `modeldex login`) to withdraw that much of your unused credit: the amount is locked\n" +
		"at once and the settler pays it from the RevenueVault to your wallet. --list shows your withdrawals.\n" +
		"Operators holding the vault's SETTLER_ROLE key can pay one directly with --settler.",
	options: {
		list: { type: "boolean" },
		wait: { type: "boolean" },
		"wait-timeout": { type: "string" },
		settler: { type: "boolean" },
		payer: { type: "string" },
		id: { type: "string" },
	},
	optionHelp: [
		["--list", "your withdrawals and their state (requested, sent, paid)"],
		["--wait", "wait until the settler has paid it"],
		["--wait-timeout <seconds>", "how long --wait waits (default 600)"],
		[
			"--settler",
			"operator: pay with RevenueVault.payWithdrawal from your key (needs SETTLER_ROLE; the gateway's ledger is not debited)",
		],
		["--payer <address>", "with --settler: who is paid (default: your wallet)"],
		["--id <text>", "with --settler: idempotency id, paid at most once (default: random, shown before sending)"],
	],
	arity: [0, 1],
	async run({ config, out, args, values }) {
		if (values.list) {
			if (args.length) throw usageError("`withdraw --list` takes no amount.");
			const session = requireStoredSession(config);
			const gateway = new Gateway(config.gatewayUrl);
			const list = await gateway
				.request<{ data: Withdrawal[] }>("GET", "/v1/account/withdrawals", { token: session.token })
				.catch((error) => {
					throw is404(error) ? unsupported(config) : error;
				});
			out.result(list.data, () =>
				list.data.length === 0
					? ["No withdrawals yet."]
					: table([
							["ID", "AMOUNT", "STATUS", "REQUESTED", "TX"],
							...list.data.map((w) => [
								`${w.id.slice(0, 10)}…`,
								paca(BigInt(w.amount)),
								w.status,
								new Date(w.requested_at * 1000).toISOString().replace(".000", ""),
								w.tx_hash ?? "-",
							]),
						]),
			);
			return;
		}
		if (args.length !== 1) throw usageError("`withdraw` needs the PACA amount.", "Usage: modeldex withdraw <PACA amount>");
		const amount = parseAmount(args[0], "the PACA amount to withdraw");
		const id = str(values, "id") ?? crypto.randomUUID();
		if (!values.settler) {
			if (str(values, "payer") || str(values, "id")) throw usageError("--payer and --id go with --settler only.");
			const waitSeconds = parseSeconds(str(values, "wait-timeout"), 600, "--wait-timeout");
			const session = requireStoredSession(config);
			const gateway = new Gateway(config.gatewayUrl);
			const step = out.step(`Requesting a withdrawal of ${paca(amount)}`);
			let request: Withdrawal;
			try {
				request = await gateway.request<Withdrawal>("POST", "/v1/account/withdrawals", {
					token: session.token,
					body: { amount: amount.toString() },
					// Sent for gateways that deduplicate retries; harmless where they don't.
					headers: { "idempotency-key": id },
					hint: (e) =>
						e.status === 402 || e.code === "insufficient_quota"
							? "You can withdraw at most your withdrawable credit: what you deposited, not credit an admin granted (see `modeldex balance`)."
							: undefined,
				});
			} catch (error) {
				step.fail();
				throw is404(error) ? unsupported(config) : error;
			}
			step.done(`${request.status}, id ${request.id}`);
			const paid = values.wait ? await waitForPayout(gateway, session.token, request.id, waitSeconds, out) : null;
			const final = paid ?? request;
			out.result({ via: "gateway", payer: session.payer, amount, withdrawal: final }, () => [
				paid
					? `Paid: ${paca(amount)} withdrawn to ${session.payer}${paid.tx_hash ? ` in ${paid.tx_hash}` : ""}.`
					: `Asked ${config.gatewayUrl} to withdraw ${paca(amount)} to ${session.payer} (withdrawal ${request.id}, ${request.status}).`,
				...(paid
					? []
					: ["The amount is locked now; the settler pays it from the RevenueVault. Follow it with `modeldex withdraw --list`."]),
			]);
			return;
		}

		const payerFlag = str(values, "payer");
		const payTo = payerFlag ? parseAddress(payerFlag, "--payer") : null;
		const ctx = await connectSigner(config, out);
		const payer: Address = payTo ?? ctx.account.address;
		const withdrawalId: Hex = /^0x[0-9a-fA-F]{64}$/.test(id) ? (id as Hex) : keccak256(stringToHex(id));
		const vault = { address: ctx.addresses.revenueVault, abi: revenueVaultAbi } as const;
		try {
			const role = await ctx.publicClient.readContract({ ...vault, functionName: "SETTLER_ROLE" });
			const isSettler = await ctx.publicClient.readContract({
				...vault,
				functionName: "hasRole",
				args: [role, ctx.account.address],
			});
			if (!isSettler) {
				throw new CliError(
					"not_settler",
					`${ctx.account.address} does not hold the RevenueVault's SETTLER_ROLE, so it cannot pay withdrawals.`,
					{
						hint: "Payers withdraw through the gateway (`modeldex withdraw <amount>` without --settler), once it offers withdrawals.",
					},
				);
			}
			if (await ctx.publicClient.readContract({ ...vault, functionName: "withdrawalPaid", args: [withdrawalId] })) {
				throw new CliError("already_paid", `Withdrawal ${withdrawalId} has already been paid.`, {
					hint: "Use a new --id for a new withdrawal.",
				});
			}
			out.warn("--settler pays on chain only: the gateway's ledger for this payer is not debited.");
			// Before sending: if the outcome is lost (or the run killed), the same id is the safe retry.
			out.info(`Withdrawal id ${withdrawalId} (paid at most once: to retry this withdrawal, pass it with --id).`);
			const receipt = await sendTransaction(ctx, `Paying a withdrawal of ${paca(amount)} to ${payer}`, {
				address: ctx.addresses.revenueVault,
				abi: revenueVaultAbi as Abi,
				functionName: "payWithdrawal",
				args: [payer, amount, withdrawalId],
			});
			const paid = eventsOf(receipt, revenueVaultAbi as Abi).some((e) => e.eventName === "WithdrawalPaid");
			out.result(
				{ via: "settler", payer, amount, withdrawal_id: withdrawalId, paid, transaction: receipt.transactionHash },
				() => [
					paid
						? `Paid ${paca(amount)} to ${payer} (withdrawal ${withdrawalId}).`
						: `Withdrawal ${withdrawalId} was already paid; nothing sent.`,
				],
			);
		} catch (error) {
			const explained = explainChainError(ctx, error);
			if (explained.code !== "transaction_status_unknown") throw explained;
			// A new (random) id on the next run would pay a second time if this one was mined.
			throw new CliError(explained.code, explained.message, {
				hint:
					`${explained.hint}\nOr run it again with the same id, which the vault pays at most once (a new id could pay twice):\n` +
					`  modeldex withdraw ${args[0]} --settler --payer ${payer} --id ${withdrawalId}`,
				cause: error,
			});
		}
	},
};
