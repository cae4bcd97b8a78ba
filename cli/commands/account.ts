// modeldex login | logout | keys create|list|revoke
//
// login signs a Sign-In with Ethereum message for the gateway's host and chain (GET /v1/chain)
// with the local key and keeps the session token it gets in <home>/session.json, per gateway
// URL. The keys commands use it.
import { createPublicClient, http } from "viem";
import { createSiweMessage } from "viem/siwe";
import { readAddressesFile } from "../chain.ts";
import { type Config, loadWallet } from "../config.ts";
import { CliError, usageError } from "../errors.ts";
import { type ApiKey, forgetSession, Gateway, requireStoredSession, saveSession } from "../gateway.ts";
import { paca, table } from "../output.ts";
import { type Command, parseAmount, str } from "./common.ts";

/**
 * The chain id for the SIWE message: the gateway's (GET /v1/chain), which it holds sign-ins
 * to. When it names none: the flag/env, else the addresses file, else the RPC, else 1.
 */
async function chainIdFor(config: Config, gateway: Gateway): Promise<number> {
	const served = await gateway.request<{ chain_id: number | null }>("GET", "/v1/chain").then(
		(r) => (Number.isSafeInteger(r.chain_id) && (r.chain_id as number) > 0 ? (r.chain_id as number) : null),
		(error: unknown) => {
			// A gateway from before GET /v1/chain: it names no chain.
			if (error instanceof CliError && error.code === "not_found") return null;
			throw error;
		},
	);
	if (served !== null) {
		if (config.chainId !== undefined && config.chainId !== served) {
			throw new CliError(
				"wrong_chain",
				`The gateway at ${config.gatewayUrl} runs on chain id ${served}, not chain id ${config.chainId} (${config.sources.chainId === "flag" ? "--chain-id" : "MODELDEX_CHAIN_ID"}).`,
				{ hint: "Point --gateway at the gateway of that chain, or fix --chain-id / MODELDEX_CHAIN_ID." },
			);
		}
		return served;
	}
	if (config.chainId !== undefined) return config.chainId;
	try {
		return readAddressesFile(config).chainId;
	} catch {
		// no addresses file: ask the node, briefly
	}
	try {
		return await createPublicClient({ transport: http(config.rpcUrl, { retryCount: 0, timeout: 2_000 }) }).getChainId();
	} catch {
		return 1;
	}
}

export const login: Command = {
	name: "login",
	summary: "Sign in to the gateway with your wallet key (Sign-In with Ethereum)",
	usage: "login",
	description: "Stores the session token in <home>/session.json for `modeldex keys` and `modeldex balance`.",
	options: {},
	optionHelp: [],
	arity: [0, 0],
	async run({ config, out }) {
		const wallet = loadWallet(config);
		if (wallet.created)
			out.info(`Created a development wallet ${wallet.account.address} in ${wallet.source} (local chains only).`);
		const gateway = new Gateway(config.gatewayUrl);
		const step = out.step(`Signing in to ${config.gatewayUrl} as ${wallet.account.address}`);
		try {
			const { nonce } = await gateway.request<{ nonce: string }>("GET", "/v1/auth/nonce");
			const url = new URL(config.gatewayUrl);
			const message = createSiweMessage({
				domain: url.host,
				address: wallet.account.address,
				statement: "Sign in to Modeldex to manage API keys and credit.",
				uri: url.origin,
				version: "1",
				chainId: await chainIdFor(config, gateway),
				nonce,
				issuedAt: new Date(),
			});
			const signature = await wallet.account.signMessage({ message });
			const session = await gateway.request<{ token: string; payer: string; expires_at: number }>("POST", "/v1/auth/verify", {
				body: { message, signature },
				hint: (e) =>
					e.status === 401 && /is for '/.test(e.message)
						? `The gateway sees another host name than ${url.host}; use the URL it is served under with --gateway.`
						: e.status === 401
							? "Run `modeldex login` again."
							: undefined,
			});
			const file = saveSession(config, session);
			step.done();
			out.result({ payer: session.payer, gateway: config.gatewayUrl, expires_at: session.expires_at, session_file: file }, () => [
				`Signed in to ${config.gatewayUrl} as ${session.payer} until ${new Date(session.expires_at * 1000).toISOString()}.`,
				"Next: create an API key with `modeldex keys create --name <name>`.",
			]);
		} catch (error) {
			step.fail();
			throw error;
		}
	},
};

export const logout: Command = {
	name: "logout",
	summary: "Forget the session token for this gateway",
	usage: "logout",
	options: {},
	optionHelp: [],
	arity: [0, 0],
	async run({ config, out }) {
		const removed = forgetSession(config);
		out.result({ gateway: config.gatewayUrl, signed_out: removed }, () =>
			removed ? `Signed out of ${config.gatewayUrl}.` : `You were not signed in to ${config.gatewayUrl}.`,
		);
	},
};

function keyRow(k: ApiKey): string[] {
	return [
		k.id,
		k.name || "-",
		`${k.prefix}…`,
		k.spend_cap === null ? "none" : paca(BigInt(k.spend_cap)),
		paca(BigInt(k.spent)),
		k.allowed_models ? k.allowed_models.join(",") : "all",
		k.revoked_at === null ? "active" : `revoked ${new Date(k.revoked_at * 1000).toISOString().slice(0, 10)}`,
	];
}

export const keys: Command = {
	name: "keys",
	summary: "Manage API keys: keys create | keys list | keys revoke <id>",
	usage: "keys create|list|revoke [id]",
	description: "Needs a session: run `modeldex login` first.",
	options: {
		name: { type: "string" },
		"spend-cap": { type: "string" },
		model: { type: "string", multiple: true },
	},
	optionHelp: [
		["--name <text>", "create: a label for the key"],
		["--spend-cap <PACA>", "create: the most the key may ever spend"],
		["--model <id>", "create: a model the key may call (repeatable; default all)"],
	],
	arity: [1, 2],
	async run({ config, out, args, values }) {
		const [sub, id] = args;
		const gateway = new Gateway(config.gatewayUrl);
		if (sub === "create") {
			if (id !== undefined) throw usageError("`keys create` takes no argument.", "Name the key with --name <text>.");
			const body: Record<string, unknown> = {};
			const name = str(values, "name");
			if (name !== undefined) body.name = name;
			const cap = str(values, "spend-cap");
			if (cap !== undefined) body.spend_cap = parseAmount(cap, "--spend-cap").toString();
			const models = values.model;
			if (Array.isArray(models) && models.length > 0) body.allowed_models = models;
			const session = requireStoredSession(config);
			const key = await gateway.request<ApiKey>("POST", "/v1/account/keys", { token: session.token, body });
			out.result(key, () => [
				`Created API key ${key.id}${key.name ? ` (${key.name})` : ""} for ${session.payer}:`,
				"",
				`  ${key.key}`,
				"",
				"Store it now: it is not shown again. Use it as the OpenAI API key with",
				`  OPENAI_BASE_URL=${config.gatewayUrl}/v1 OPENAI_API_KEY=<key>`,
			]);
			return;
		}
		if (sub === "list") {
			if (id !== undefined) throw usageError("`keys list` takes no argument.");
			const session = requireStoredSession(config);
			const list = await gateway.request<{ data: ApiKey[] }>("GET", "/v1/account/keys", { token: session.token });
			out.result(list.data, () =>
				list.data.length === 0
					? ["No API keys yet. Create one with `modeldex keys create --name <name>`."]
					: table([["ID", "NAME", "PREFIX", "SPEND CAP", "SPENT", "MODELS", "STATUS"], ...list.data.map(keyRow)]),
			);
			return;
		}
		if (sub === "revoke") {
			if (!id)
				throw usageError("`keys revoke` needs the key's id.", "Find it with `modeldex keys list` (ids look like key_...).");
			const session = requireStoredSession(config);
			const key = await gateway.request<ApiKey>("DELETE", `/v1/account/keys/${encodeURIComponent(id)}`, {
				token: session.token,
				hint: (e) => (e.status === 404 ? "Run `modeldex keys list` for your keys' ids." : undefined),
			});
			out.result(key, () => `Revoked ${key.id}${key.name ? ` (${key.name})` : ""}; requests with it now get 401.`);
			return;
		}
		throw new CliError("usage", `Unknown keys command '${sub ?? ""}'.`, {
			hint: "Use `modeldex keys create`, `modeldex keys list` or `modeldex keys revoke <id>`.",
			exitCode: 2,
		});
	},
};
