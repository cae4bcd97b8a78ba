// Where the CLI talks to and who it signs as. Each setting: flag > environment > default;
// the defaults are the local stack that `npm start` runs.
//
//   setting        flag              environment              default
//   gateway        --gateway         MODELDEX_GATEWAY_URL     http://127.0.0.1:8787
//   chain RPC      --rpc             MODELDEX_RPC_URL         http://127.0.0.1:8545
//   chain id       --chain-id        MODELDEX_CHAIN_ID        the addresses file's, checked against the RPC
//   state dir      --home            MODELDEX_HOME            ./.modeldex
//   addresses      --addresses       MODELDEX_ADDRESSES       <home>/addresses.json
//   private key    --key-file        MODELDEX_PRIVATE_KEY     <home>/wallet.json (local chains only; created on first use)
//   Hugging Face   --hf-endpoint     MODELDEX_HF_ENDPOINT     https://huggingface.co  (token: HF_TOKEN)
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Hex } from "viem";
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { CliError, usageError } from "./errors.ts";

export interface GlobalFlags {
	gateway?: string | undefined;
	rpc?: string | undefined;
	"chain-id"?: string | undefined;
	home?: string | undefined;
	addresses?: string | undefined;
	"key-file"?: string | undefined;
	"hf-endpoint"?: string | undefined;
}

export type Source = "flag" | "env" | "default";

export interface Config {
	gatewayUrl: string;
	rpcUrl: string;
	/** Only when set by flag or environment; otherwise the addresses file's and the node's. */
	chainId: number | undefined;
	home: string;
	addressesFile: string;
	keyFile: string | undefined;
	hfEndpoint: string;
	hfToken: string | undefined;
	sources: Record<"gateway" | "rpc" | "chainId" | "home" | "addresses" | "hfEndpoint", Source>;
}

export const DEFAULTS = {
	gateway: "http://127.0.0.1:8787",
	rpc: "http://127.0.0.1:8545",
	home: ".modeldex",
	hfEndpoint: "https://huggingface.co",
} as const;

type Env = Record<string, string | undefined>;

function pick(flag: string | undefined, envValue: string | undefined, fallback: string): [string, Source] {
	if (flag !== undefined && flag !== "") return [flag, "flag"];
	if (envValue !== undefined && envValue !== "") return [envValue, "env"];
	return [fallback, "default"];
}

function httpUrl(value: string, what: string, flag: string, envName: string): string {
	let url: URL;
	try {
		url = new URL(value);
	} catch {
		throw usageError(`${what} '${value}' is not a URL.`, `Pass an http(s) URL with ${flag} or ${envName}.`);
	}
	if (url.protocol !== "http:" && url.protocol !== "https:") {
		throw usageError(`${what} '${value}' is not an http(s) URL.`, `Pass an http(s) URL with ${flag} or ${envName}.`);
	}
	return value.replace(/\/+$/, "");
}

export function resolveConfig(flags: GlobalFlags, env: Env = process.env, cwd = process.cwd()): Config {
	const [gateway, gatewaySource] = pick(flags.gateway, env.MODELDEX_GATEWAY_URL, DEFAULTS.gateway);
	const [rpc, rpcSource] = pick(flags.rpc, env.MODELDEX_RPC_URL, DEFAULTS.rpc);
	const [home, homeSource] = pick(flags.home, env.MODELDEX_HOME, DEFAULTS.home);
	const homeDir = resolve(cwd, home);
	const [addresses, addressesSource] = pick(flags.addresses, env.MODELDEX_ADDRESSES, resolve(homeDir, "addresses.json"));
	const [hf, hfSource] = pick(flags["hf-endpoint"], env.MODELDEX_HF_ENDPOINT, DEFAULTS.hfEndpoint);
	const [chainIdText, chainIdSource] = pick(flags["chain-id"], env.MODELDEX_CHAIN_ID, "");
	let chainId: number | undefined;
	if (chainIdText !== "") {
		chainId = Number(chainIdText);
		if (!Number.isSafeInteger(chainId) || chainId <= 0) {
			throw usageError(`Chain id '${chainIdText}' is not a positive integer.`, "Pass e.g. --chain-id 31337.");
		}
	}
	return {
		gatewayUrl: httpUrl(gateway, "Gateway URL", "--gateway", "MODELDEX_GATEWAY_URL"),
		rpcUrl: httpUrl(rpc, "RPC URL", "--rpc", "MODELDEX_RPC_URL"),
		chainId,
		home: homeDir,
		addressesFile: resolve(cwd, addresses),
		keyFile: flags["key-file"] ? resolve(cwd, flags["key-file"]) : undefined,
		hfEndpoint: httpUrl(hf, "Hugging Face endpoint", "--hf-endpoint", "MODELDEX_HF_ENDPOINT"),
		hfToken: env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined,
		sources: {
			gateway: gatewaySource,
			rpc: rpcSource,
			chainId: chainIdSource,
			home: homeSource,
			addresses: addressesSource,
			hfEndpoint: hfSource,
		},
	};
}

/** A loopback RPC: the only kind for which the CLI makes up a wallet by itself. */
export function isLocalUrl(url: string): boolean {
	const host = new URL(url).hostname;
	return host === "localhost" || host === "127.0.0.1" || host === "[::1]" || host === "::1" || host.startsWith("127.");
}

// ── Wallet ──────────────────────────────────────────────────────────────────

export interface Wallet {
	account: PrivateKeyAccount;
	/** Where the key came from, for messages ("MODELDEX_PRIVATE_KEY", a file path). */
	source: string;
	/** True when this run created the key file. */
	created: boolean;
}

const KEY_PATTERN = /^0x[0-9a-fA-F]{64}$/;

function parseKey(text: string, where: string): Hex {
	const trimmed = text.trim();
	let key = trimmed;
	if (trimmed.startsWith("{")) {
		try {
			key = String((JSON.parse(trimmed) as { privateKey?: unknown }).privateKey ?? "");
		} catch {
			key = "";
		}
	}
	if (!key.startsWith("0x")) key = `0x${key}`;
	if (!KEY_PATTERN.test(key)) {
		throw new CliError(
			"bad_private_key",
			`${where} does not hold a private key (64 hex digits, or JSON {"privateKey":"0x..."}).`,
			{
				hint: "Fix it, or point --key-file / MODELDEX_PRIVATE_KEY at the right key.",
			},
		);
	}
	return key as Hex;
}

export function walletFile(config: Config): string {
	return resolve(config.home, "wallet.json");
}

/**
 * The signing key: --key-file, then MODELDEX_PRIVATE_KEY, then <home>/wallet.json for a local chain
 * only. That file is a development key, unencrypted (made here on first use, or by `npm start`); a
 * remote chain signs only with a key the user named, even when the file is there.
 */
export function loadWallet(config: Config, env: Env = process.env): Wallet {
	if (config.keyFile) {
		if (!existsSync(config.keyFile)) {
			throw new CliError("no_private_key", `No key file at ${config.keyFile}.`, { hint: "Check the path given to --key-file." });
		}
		return {
			account: privateKeyToAccount(parseKey(readFileSync(config.keyFile, "utf8"), config.keyFile)),
			source: config.keyFile,
			created: false,
		};
	}
	if (env.MODELDEX_PRIVATE_KEY) {
		return {
			account: privateKeyToAccount(parseKey(env.MODELDEX_PRIVATE_KEY, "MODELDEX_PRIVATE_KEY")),
			source: "MODELDEX_PRIVATE_KEY",
			created: false,
		};
	}
	const file = walletFile(config);
	if (!isLocalUrl(config.rpcUrl)) {
		if (existsSync(file)) {
			throw new CliError(
				"no_private_key",
				`No key chosen for ${config.rpcUrl}: ${file} is the development wallet for local chains, and that RPC is not local.`,
				{
					hint:
						"Set MODELDEX_PRIVATE_KEY=0x... or pass --key-file <file> with the key for this chain\n" +
						`(--key-file ${file} if you do mean that one; it is stored unencrypted).`,
				},
			);
		}
		throw new CliError("no_private_key", `No wallet: ${config.rpcUrl} is not a local chain, so no development key is made up.`, {
			hint: "Set MODELDEX_PRIVATE_KEY=0x... or pass --key-file <file> with your key.",
		});
	}
	if (existsSync(file)) {
		return { account: privateKeyToAccount(parseKey(readFileSync(file, "utf8"), file)), source: file, created: false };
	}
	const privateKey = generatePrivateKey();
	const account = privateKeyToAccount(privateKey);
	mkdirSync(dirname(file), { recursive: true });
	const body = {
		note: "Development wallet made by `modeldex` for a local chain. Never send real funds to it.",
		address: account.address,
		privateKey,
	};
	writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
	chmodSync(file, 0o600);
	return { account, source: file, created: true };
}
