// API keys look like `mdx_<payer address, 40 hex>_<secret, 43 base64url chars>`.
// The key names its payer so the gateway can route to the payer's ledger without a
// lookup; only the SHA-256 of the whole key is ever stored.

const KEY_PATTERN = /^mdx_([0-9a-f]{40})_([A-Za-z0-9_-]{43})$/;

export interface ParsedKey {
	payer: `0x${string}`;
	key: string;
}

export function parseApiKey(key: string): ParsedKey | null {
	const match = KEY_PATTERN.exec(key);
	if (!match) return null;
	return { payer: `0x${match[1]}`, key };
}

export function newApiKey(payer: string): string {
	const payerHex = payer.toLowerCase().replace(/^0x/, "");
	if (!/^[0-9a-f]{40}$/.test(payerHex)) throw new RangeError(`not an address: ${payer}`);
	const secret = crypto.getRandomValues(new Uint8Array(32));
	return `mdx_${payerHex}_${base64url(secret)}`;
}

/** What listings show: enough to recognise a key, useless to an attacker. */
export function keyPrefix(key: string): string {
	return `${key.slice(0, 14)}…${key.slice(-4)}`;
}

const encoder = new TextEncoder();

export async function hashApiKey(key: string): Promise<string> {
	return sha256Hex(encoder.encode(key));
}

/** SHA-256 of the bytes, in hex. */
export async function sha256Hex(data: BufferSource): Promise<string> {
	return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", data)));
}

/** The token of an `Authorization: Bearer <token>` header, if it has that shape. */
export function bearerToken(header: string | undefined | null): string | undefined {
	return header ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

export function toHex(bytes: Uint8Array): string {
	let hex = "";
	for (const b of bytes) hex += HEX[b];
	return hex;
}

/** `bytes` random bytes as hex. */
export function randomHex(bytes: number): string {
	return toHex(crypto.getRandomValues(new Uint8Array(bytes)));
}

export function base64url(bytes: Uint8Array): string {
	let binary = "";
	for (const b of bytes) binary += String.fromCharCode(b);
	return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
