#!/usr/bin/env node
// modeldex: the command line of the Modeldex exchange. `modeldex help` lists the commands.
// Runs on Node >= 22.18 (TypeScript type stripping); every import names its .ts file.
import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import { explainRpcFailure } from "./chain.ts";
import { keys, login, logout } from "./commands/account.ts";
import { claim } from "./commands/claim.ts";
import type { Command, Values } from "./commands/common.ts";
import { models, stats } from "./commands/models.ts";
import { tokenize } from "./commands/tokenize.ts";
import { buy, sell } from "./commands/trade.ts";
import { deposit, withdraw } from "./commands/vault.ts";
import { balance, configCommand, faucet } from "./commands/wallet.ts";
import { type Config, type GlobalFlags, resolveConfig } from "./config.ts";
import { CliError, EXIT, isConnectionError, usageError } from "./errors.ts";
import { Output } from "./output.ts";

const COMMANDS: Command[] = [
	tokenize,
	login,
	logout,
	keys,
	deposit,
	buy,
	sell,
	models,
	stats,
	claim,
	withdraw,
	balance,
	faucet,
	configCommand,
];

const GLOBAL_OPTIONS = {
	gateway: { type: "string" },
	rpc: { type: "string" },
	"chain-id": { type: "string" },
	home: { type: "string" },
	addresses: { type: "string" },
	"key-file": { type: "string" },
	"hf-endpoint": { type: "string" },
	json: { type: "boolean" },
	quiet: { type: "boolean", short: "q" },
	help: { type: "boolean", short: "h" },
	version: { type: "boolean" },
} as const satisfies ParseArgsOptionsConfig;

const GLOBAL_HELP: Array<[string, string]> = [
	["--gateway <url>", "gateway URL (MODELDEX_GATEWAY_URL; default http://127.0.0.1:8787)"],
	["--rpc <url>", "chain RPC URL (MODELDEX_RPC_URL; default http://127.0.0.1:8545)"],
	["--chain-id <id>", "expected chain id (MODELDEX_CHAIN_ID)"],
	["--addresses <file>", "deployed addresses (MODELDEX_ADDRESSES; default <home>/addresses.json)"],
	["--key-file <file>", "private key file (else MODELDEX_PRIVATE_KEY, else <home>/wallet.json: local chains only)"],
	["--home <dir>", "state directory for wallet, session, addresses (MODELDEX_HOME; default ./.modeldex)"],
	["--hf-endpoint <url>", "Hugging Face API (MODELDEX_HF_ENDPOINT; default https://huggingface.co; token: HF_TOKEN)"],
	["--json", "print the result as JSON on stdout (amounts as base-unit strings); progress stays on stderr"],
	["-q, --quiet", "no progress output"],
	["-h, --help", "help for modeldex or a command"],
];

function columns(rows: Array<[string, string]>): string[] {
	const width = Math.max(...rows.map(([a]) => a.length));
	return rows.map(([a, b]) => `  ${a.padEnd(width)}  ${b}`);
}

function mainHelp(): string {
	return [
		"modeldex: tokenize, fund and use community-owned AI models.",
		"",
		"Usage: modeldex <command> [arguments] [options]",
		"",
		"Commands:",
		...columns(COMMANDS.map((c) => [c.usage, c.summary])),
		"",
		"<model> is a gateway model id (org/name) or a model token address; amounts are decimal (e.g. 12.5).",
		"",
		"Options for every command:",
		...columns(GLOBAL_HELP),
		"",
		"Without options it works against the local stack (`npm start`).",
		"Run `modeldex <command> --help` for a command's own options.",
	].join("\n");
}

function commandHelp(c: Command): string {
	return [
		`Usage: modeldex ${c.usage}${c.optionHelp.length ? " [options]" : ""}`,
		"",
		`${c.summary}.`,
		...(c.description ? ["", c.description] : []),
		...(c.optionHelp.length ? ["", "Options:", ...columns(c.optionHelp)] : []),
		"",
		"Options for every command: see `modeldex help`.",
	].join("\n");
}

function version(): string {
	return "modeldex 0.1.0";
}

/** An error no command explained. The chain or the network failing on the way is not a bug in modeldex. */
function explainUncaught(error: unknown, config: Config | undefined): CliError {
	if (error instanceof CliError) return error;
	const rpc = config ? explainRpcFailure(config, error) : null;
	if (rpc) return rpc;
	const message = (error as Error)?.message ?? String(error);
	if (isConnectionError(error) || (error as { name?: unknown })?.name === "TimeoutError") {
		return new CliError("network_error", `A network request failed: ${message}.`, {
			hint: "Check your connection and where the CLI points (`modeldex config`), then try again.",
			cause: error,
		});
	}
	return new CliError("internal", `Unexpected failure: ${message}`, {
		hint: "This is a bug in modeldex; rerun with MODELDEX_DEBUG=1 for details and report it.",
		cause: error,
	});
}

async function main(argv: string[]): Promise<number> {
	// First pass: find the command name (global options may come before it).
	const loose = parseArgs({ args: argv, options: GLOBAL_OPTIONS, strict: false, allowPositionals: true });
	const wantsJson = loose.values.json === true;
	const out = new Output({ json: wantsJson, quiet: loose.values.quiet === true });
	const name = loose.positionals[0];
	if (name === "help") {
		const topic = COMMANDS.find((c) => c.name === loose.positionals[1]);
		process.stdout.write(`${topic ? commandHelp(topic) : mainHelp()}\n`);
		return 0;
	}
	if (!name) {
		if (loose.values.version) {
			process.stdout.write(`${version()}\n`);
			return 0;
		}
		if (loose.values.help) {
			process.stdout.write(`${mainHelp()}\n`);
			return 0;
		}
		out.error(usageError("No command given.", "Run `modeldex help` for the commands."));
		if (!wantsJson) process.stderr.write(`\n${mainHelp()}\n`);
		return EXIT.usage;
	}
	const command = COMMANDS.find((c) => c.name === name);
	let config: Config | undefined;
	try {
		if (!command) {
			const near = COMMANDS.filter((c) => c.name.startsWith(name.slice(0, 2))).map((c) => c.name);
			throw usageError(
				`Unknown command '${name}'.`,
				near.length ? `Did you mean: ${near.join(", ")}? (\`modeldex help\` lists all)` : "Run `modeldex help` for the commands.",
			);
		}
		let parsed: { values: Values; positionals: string[] };
		try {
			parsed = parseArgs({
				args: argv,
				options: { ...GLOBAL_OPTIONS, ...command.options },
				strict: true,
				allowPositionals: true,
			}) as { values: Values; positionals: string[] };
		} catch (error) {
			throw usageError(
				(error as Error).message.replace(/\. To specify a positional argument.*$/s, "."),
				`Run \`modeldex ${command.name} --help\` for its options.`,
			);
		}
		if (parsed.values.help) {
			process.stdout.write(`${commandHelp(command)}\n`);
			return 0;
		}
		const args = parsed.positionals.slice(1);
		const [min, max] = command.arity;
		if (args.length < min || args.length > max) {
			throw usageError(
				args.length < min
					? `\`${command.name}\` needs more arguments.`
					: `\`${command.name}\` got too many arguments: ${args.slice(max).join(" ")}.`,
				`Usage: modeldex ${command.usage}  (see \`modeldex ${command.name} --help\`)`,
			);
		}
		config = resolveConfig(parsed.values as GlobalFlags);
		await command.run({ config, out, args, values: parsed.values });
		return 0;
	} catch (error) {
		const explained = explainUncaught(error, config);
		out.error(explained);
		if (process.env.MODELDEX_DEBUG && explained.cause)
			process.stderr.write(`${(explained.cause as Error)?.stack ?? String(explained.cause)}\n`);
		return explained.exitCode;
	}
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Nothing should keep running after a command; if a stray socket would, don't wait on it.
setTimeout(() => process.exit(code), 2_000).unref();
