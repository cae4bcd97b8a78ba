// The gateway's read and account API, typed as the dashboard uses it. Amounts stay
// decimal strings of base units until format.ts turns them into text.

export interface Counters {
	requests: number;
	errors: number;
	prompt_tokens: number;
	completion_tokens: number;
	fees: string;
}

export interface ModelStats {
	model: string;
	total: Counters;
	last_minute: Counters;
	updated_at: number;
}

export interface ModelToken {
	address: `0x${string}`;
	imo_status: "none" | "funding" | "graduated";
	sale_address: `0x${string}` | null;
	pool_address: `0x${string}` | null;
	raised: string | null;
	threshold: string | null;
}

export interface Model {
	id: string;
	name: string;
	created: number;
	pricing: { input_per_1m_tokens: string; output_per_1m_tokens: string; currency: "PACA" };
	max_output_tokens: number;
	huggingface: { repo: string; revision: string | null } | null;
	token: ModelToken | null;
}

export interface HourPoint {
	hour: number;
	requests: number;
	errors: number;
	prompt_tokens: number;
	completion_tokens: number;
	fees: string;
}

export interface Account {
	payer: string;
	balance: string;
	held: string;
	available: string;
	total_credited: string;
	total_spent: string;
}

export interface ApiKey {
	id: string;
	name: string;
	prefix: string;
	spend_cap: string | null;
	spent: string;
	allowed_models: string[] | null;
	created_at: number;
	revoked_at: number | null;
}

export interface Deposit {
	tx_hash: string;
	log_index?: number;
	block_number: number;
	amount: string;
	credited: boolean;
	/** Absent from gateways older than it, which list no reversed deposits. */
	status?: "pending" | "credited" | "reversed";
	/** For a reversed deposit: what was taken back, and what had already been spent of it. */
	reversal?: { reversed: string; shortfall: string } | null;
}

/** The latest `count` deposits, newest first: the API already sends them newest first (by block). */
export const latestDeposits = (deposits: Deposit[], count = 5) => deposits.slice(0, count);

/** How the wallet page marks a deposit: a reversed one is never shown as credited or as waiting. */
export function depositBadge(d: Deposit): { tone: "ok" | "warn" | "bad"; label: string } {
	if (d.status === "reversed") return { tone: "bad", label: "reversed by a chain reorg" };
	return d.credited ? { tone: "ok", label: "credited" } : { tone: "warn", label: "waiting for confirmations" };
}

/** An API failure in words a person can act on; `code` is the API's error code when it sent one. */
export class ApiProblem extends Error {
	constructor(
		message: string,
		readonly status: number,
		readonly code: string | null,
	) {
		super(message);
	}
}

export async function request<T>(path: string, init: RequestInit & { session?: string | null } = {}): Promise<T> {
	const headers = new Headers(init.headers);
	if (init.session) headers.set("authorization", `Bearer ${init.session}`);
	if (init.body && !headers.has("content-type")) headers.set("content-type", "application/json");
	let response: Response;
	try {
		response = await fetch(path, { ...init, headers });
	} catch {
		throw new ApiProblem("Could not reach the Modeldex API. Check your connection and try again.", 0, "network");
	}
	const text = await response.text();
	let body: unknown = null;
	try {
		body = text ? JSON.parse(text) : null;
	} catch {
		// not JSON: described below from the status
	}
	if (!response.ok) {
		const error = (body as { error?: { message?: string; code?: string } } | null)?.error;
		const message =
			error?.message ??
			(response.status >= 500
				? "The Modeldex API had a problem. Try again in a moment."
				: `The Modeldex API refused the request (${response.status}).`);
		throw new ApiProblem(message, response.status, error?.code ?? null);
	}
	return body as T;
}

/** Model ids contain a slash; the gateway takes them raw in the path. */
export const modelPath = (id: string) => `/v1/models/${id.split("/").map(encodeURIComponent).join("/")}`;

export const api = {
	models: () => request<{ data: Model[] }>("/v1/models").then((r) => r.data),
	model: (id: string) => request<Model>(modelPath(id)),
	stats: (id: string) => request<ModelStats>(`${modelPath(id)}/stats`),
	usage: (id: string, hours = 24) => request<{ data: HourPoint[] }>(`${modelPath(id)}/usage?hours=${hours}`).then((r) => r.data),
	/**
	 * The chain the contracts are on (the gateway's CHAIN_ID); null when the gateway does not
	 * say (unset, or a gateway from before GET /v1/chain).
	 */
	chainId: () =>
		request<{ chain_id: number | null }>("/v1/chain").then(
			(r) => (Number.isSafeInteger(r.chain_id) && (r.chain_id as number) > 0 ? r.chain_id : null),
			(error: unknown) => {
				if (error instanceof ApiProblem && error.status === 404 && error.code === "not_found") return null;
				throw error;
			},
		),
	nonce: () => request<{ nonce: string }>("/v1/auth/nonce").then((r) => r.nonce),
	verify: (message: string, signature: string) =>
		request<{ token: string; payer: string; expires_at: number }>("/v1/auth/verify", {
			method: "POST",
			body: JSON.stringify({ message, signature }),
		}),
	account: (session: string) => request<Account>("/v1/account", { session }),
	/** Deposits the chain indexer has seen for the payer; null where the gateway does not serve them. */
	deposits: (session: string) =>
		request<{ data: Deposit[] }>("/v1/account/deposits?include=reversed", { session }).then(
			(r) => r.data,
			(error: unknown) => {
				if (error instanceof ApiProblem && error.status === 404 && error.code === "not_found") return null;
				throw error;
			},
		),
	keys: (session: string) => request<{ data: ApiKey[] }>("/v1/account/keys", { session }).then((r) => r.data),
	createKey: (session: string, name: string) =>
		request<ApiKey & { key: string }>("/v1/account/keys", { method: "POST", session, body: JSON.stringify({ name }) }),
	revokeKey: (session: string, id: string) =>
		request<ApiKey>(`/v1/account/keys/${encodeURIComponent(id)}`, { method: "DELETE", session }),
};
