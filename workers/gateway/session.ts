import { and, eq, gt, lt } from "drizzle-orm";
import { type Hex, verifyMessage } from "viem";
import { parseSiweMessage, validateSiweMessage } from "viem/siwe";
import type { Db } from "../../lib/db/client.ts";
import { siweNonces } from "../../lib/db/schema.ts";
import { base64url, bearerToken, randomHex } from "../../lib/keys.ts";
import { deploymentChainId, type Env } from "./env.ts";
import { ApiError } from "./errors.ts";

// Sign-In with Ethereum (EIP-4361) and the session tokens it hands out.
//
// Sign-in: GET /v1/auth/nonce stores a one-time nonce in D1; the wallet signs a
// SIWE message naming this host, the deployment's chain (CHAIN_ID) and that nonce;
// POST /v1/auth/verify checks the message and the signature, then deletes the
// nonce in the statement that checks it, so of two requests carrying the same
// message only one gets a session.
//
// Sessions: what a wallet gets after signing in, sent as
// `Authorization: Bearer mdxs_<payer hex>_<expiry>_<mac>` to /v1/account routes.
// Stateless: an HMAC-SHA256 (key SESSION_SECRET) over the payer and the expiry,
// so checking one costs no I/O. They cannot be revoked one by one; they expire
// (SESSION_TTL_MS) and rotating SESSION_SECRET ends them all.
//
// The `mdxs_` prefix keeps the two credentials apart: an API key is
// `mdx_<40 hex>_…`, which a session token can never match (and the reverse), so
// neither is accepted where the other belongs.

export const SESSION_TTL_MS = 24 * 60 * 60 * 1000;
export const NONCE_TTL_MS = 10 * 60_000;
const SESSION_PATTERN = /^mdxs_([0-9a-f]{40})_(\d{1,15})_([A-Za-z0-9_-]{43})$/;
/** Domain separation: this key signs nothing else, but the label keeps it that way. */
const MAC_LABEL = "modeldex-session-v1";
const MIN_SECRET_LENGTH = 32;

export interface Session {
	payer: `0x${string}`;
	/** Unix milliseconds. */
	expiresAt: number;
}

// ── Sign-in ─────────────────────────────────────────────────────────────────

/** A fresh one-time nonce; expired ones are swept in the same batch, so the table stays small. */
export async function newSignInNonce(db: Db, now = Date.now()): Promise<{ nonce: string; expiresAt: number }> {
	// 128 random bits as hex: EIP-4361 wants at least 8 alphanumerics (viem's generator uses Math.random).
	const nonce = randomHex(16);
	const expiresAt = now + NONCE_TTL_MS;
	await db.batch([
		db.delete(siweNonces).where(lt(siweNonces.expiresAt, now)),
		db.insert(siweNonces).values({ nonce, expiresAt }),
	]);
	return { nonce, expiresAt };
}

/**
 * Checks a signed SIWE message for `host` and the deployment's chain, and returns a
 * session for its address. Only externally owned accounts: the signature is checked
 * by recovering the signer (smart-contract wallets would need an RPC client for ERC-1271).
 */
export async function signIn(
	env: Env,
	db: Db,
	input: { message: string; signature: Hex },
	host: string,
	now = Date.now(),
): Promise<{ token: string } & Session> {
	const fields = parseSiweMessage(input.message);
	const { address, nonce, issuedAt, expirationTime, notBefore } = fields;
	if (!fields.domain || !address || !fields.uri || !fields.version || fields.chainId === undefined || !nonce || !issuedAt) {
		throw new ApiError("invalid_request", "Invalid 'message': not an EIP-4361 (Sign-In with Ethereum) message.", {
			param: "message",
		});
	}
	for (const [name, date] of [
		["Issued At", issuedAt],
		["Expiration Time", expirationTime],
		["Not Before", notBefore],
	] as const) {
		if (date && Number.isNaN(date.getTime())) {
			throw new ApiError("invalid_request", `Invalid 'message': '${name}' is not an RFC 3339 date-time.`, { param: "message" });
		}
	}
	if (fields.domain !== host) {
		throw new ApiError("unauthorized", `This sign-in message is for '${fields.domain}', not '${host}'.`);
	}
	// EIP-4361: the URI names the resource signed in to; one on another host is another site's.
	if (uriHost(fields.uri) !== host) {
		throw new ApiError("unauthorized", `This sign-in message's URI '${fields.uri}' is not on '${host}'.`);
	}
	// EIP-4361's Chain ID binds the sign-in to a network. One deployer key gives the same
	// contract addresses on every chain, so a message for another network is refused rather
	// than taken as a sign-in to this deployment. CHAIN_ID unset: no chain to hold it to.
	const chainId = deploymentChainId(env);
	if (chainId !== null && fields.chainId !== chainId) {
		throw new ApiError(
			"unauthorized",
			`This sign-in message names chain id ${fields.chainId}, but Modeldex runs on chain id ${chainId} (GET /v1/chain). Sign a message with 'Chain ID: ${chainId}' (switch your wallet to that network first).`,
			{ param: "message" },
		);
	}
	if (expirationTime && expirationTime.getTime() <= now) throw new ApiError("unauthorized", "This sign-in message has expired.");
	if (notBefore && notBefore.getTime() > now) throw new ApiError("unauthorized", "This sign-in message is not valid yet.");
	// viem's own check too (version, nonce format, address), so nothing it knows of is missed.
	if (!validateSiweMessage({ message: fields, domain: host, time: new Date(now) })) {
		throw new ApiError("unauthorized", "This sign-in message is not valid.");
	}
	const signed = await verifyMessage({ address, message: input.message, signature: input.signature }).catch(() => false);
	if (!signed) throw new ApiError("unauthorized", `The signature is not ${address}'s signature of this message.`);

	// Last, so that only a correctly signed message can use up a nonce.
	const consumed = await db
		.delete(siweNonces)
		.where(and(eq(siweNonces.nonce, nonce), gt(siweNonces.expiresAt, now)))
		.returning({ nonce: siweNonces.nonce });
	if (consumed.length === 0) {
		throw new ApiError(
			"unauthorized",
			"The message's nonce is unknown, expired or already used. Get a new one from GET /v1/auth/nonce.",
		);
	}
	return issueSession(env, address, now, expirationTime?.getTime());
}

function uriHost(uri: string): string | null {
	try {
		return new URL(uri).host;
	} catch {
		return null;
	}
}

// ── Sessions ────────────────────────────────────────────────────────────────

/** A session for `payer`, ending after SESSION_TTL_MS or at `notAfter` (the message's expiry), whichever is first. */
export async function issueSession(
	env: Env,
	payer: string,
	now = Date.now(),
	notAfter?: number,
): Promise<{ token: string } & Session> {
	const payerHex = payer.toLowerCase().replace(/^0x/, "");
	if (!/^[0-9a-f]{40}$/.test(payerHex)) throw new RangeError(`not an address: ${payer}`);
	const expiresAt = Math.min(now + SESSION_TTL_MS, notAfter ?? Number.POSITIVE_INFINITY);
	const mac = await crypto.subtle.sign("HMAC", await macKey(env), macInput(payerHex, expiresAt));
	return { token: `mdxs_${payerHex}_${expiresAt}_${base64url(new Uint8Array(mac))}`, payer: `0x${payerHex}`, expiresAt };
}

/** The session in `Authorization: Bearer …`, or 401. API keys are refused here by name. */
export async function requireSession(env: Env, authorization: string | undefined, now = Date.now()): Promise<Session> {
	const token = bearerToken(authorization);
	if (!token) {
		throw new ApiError(
			"unauthorized",
			"You didn't provide a session token. Sign in with POST /v1/auth/verify and send 'Authorization: Bearer mdxs_...'.",
		);
	}
	if (token.startsWith("mdx_")) {
		throw new ApiError(
			"unauthorized",
			"API keys cannot manage the account. Sign in with your wallet (POST /v1/auth/verify) and use the session token.",
		);
	}
	const match = SESSION_PATTERN.exec(token);
	const [, payerHex, expiry, macText] = match ?? [];
	const mac = macText ? fromBase64url(macText) : null;
	if (!payerHex || !expiry || !mac) throw invalidSession();
	const expiresAt = Number(expiry);
	// crypto.subtle.verify compares in constant time.
	const valid = await crypto.subtle.verify("HMAC", await macKey(env), mac, macInput(payerHex, expiresAt));
	if (!valid) throw invalidSession();
	if (expiresAt <= now) throw new ApiError("unauthorized", "Your session has expired. Sign in again with POST /v1/auth/verify.");
	return { payer: `0x${payerHex}`, expiresAt };
}

function invalidSession(): ApiError {
	return new ApiError("unauthorized", "Invalid session token. Sign in again with POST /v1/auth/verify.");
}

function macInput(payerHex: string, expiresAt: number): Uint8Array {
	return new TextEncoder().encode(`${MAC_LABEL}\n0x${payerHex}\n${expiresAt}`);
}

const keys = new Map<string, Promise<CryptoKey>>();

function macKey(env: Env): Promise<CryptoKey> {
	const secret = env.SESSION_SECRET;
	if (!secret || secret.length < MIN_SECRET_LENGTH) {
		// A deployment fault, not the caller's: a clear message in the logs, a 500 to the client.
		throw new Error(`SESSION_SECRET is missing or shorter than ${MIN_SECRET_LENGTH} characters`);
	}
	let key = keys.get(secret);
	if (!key) {
		key = crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
			"sign",
			"verify",
		]);
		keys.set(secret, key);
	}
	return key;
}

function fromBase64url(text: string): Uint8Array | null {
	try {
		const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
		return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
	} catch {
		return null;
	}
}
