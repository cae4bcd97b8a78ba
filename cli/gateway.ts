// The Modeldex gateway's HTTP API, and the session tokens `modeldex login` keeps per gateway.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Config } from "./config.ts";
import { CliError, isConnectionError } from "./errors.ts";

export interface StoredSession {
	token: string;
	payer: string;
	/** Unix seconds. */
	expires_at: number;
}

interface SessionFile {
	sessions: Record<string, StoredSession>;
}

export function sessionFile(config: Config): string {
	return resolve(config.home, "session.json");
}

function readSessions(config: Config): SessionFile {
	const file = sessionFile(config);
	if (!existsSync(file)) return { sessions: {} };
	try {
		const parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<SessionFile>;
		return { sessions: parsed.sessions ?? {} };
	} catch {
		return { sessions: {} };
	}
}

export function saveSession(config: Config, session: StoredSession): string {
	const file = sessionFile(config);
	const all = readSessions(config);
	all.sessions[config.gatewayUrl] = session;
	mkdirSync(dirname(file), { recursive: true });
	writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
	return file;
}

export function forgetSession(config: Config): boolean {
	const all = readSessions(config);
	if (!all.sessions[config.gatewayUrl]) return false;
	delete all.sessions[config.gatewayUrl];
	writeFileSync(sessionFile(config), `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
	return true;
}

/** The stored session for this gateway, or null when there is none or it has expired. */
export function currentSession(config: Config, now = Date.now()): StoredSession | null {
	const session = readSessions(config).sessions[config.gatewayUrl];
	if (!session || session.expires_at * 1000 <= now) return null;
	return session;
}

export function requireStoredSession(config: Config): StoredSession {
	const stored = readSessions(config).sessions[config.gatewayUrl];
	if (!stored) {
		throw new CliError("not_logged_in", `You are not signed in to ${config.gatewayUrl}.`, {
			hint: "Run `modeldex login` first (it signs in with your wallet key).",
		});
	}
	if (stored.expires_at * 1000 <= Date.now()) {
		throw new CliError("session_expired", `Your session with ${config.gatewayUrl} has expired.`, {
			hint: "Run `modeldex login` to sign in again.",
		});
	}
	return stored;
}

/** Path of one model under /v1/models: the slash of "org/name" kept, each part encoded. */
export function modelPath(id: string): string {
	return id.split("/").map(encodeURIComponent).join("/");
}

export interface GatewayError {
	status: number;
	code: string;
	message: string;
}

export class Gateway {
	readonly baseUrl: string;

	constructor(baseUrl: string) {
		this.baseUrl = baseUrl;
	}

	url(path: string): string {
		return `${this.baseUrl}${path}`;
	}

	/** A JSON request; an error answer becomes a CliError carrying the gateway's own message. */
	async request<T>(
		method: string,
		path: string,
		opts: {
			body?: unknown;
			token?: string;
			headers?: Record<string, string>;
			hint?: (e: GatewayError) => string | undefined;
		} = {},
	): Promise<T> {
		const headers: Record<string, string> = { accept: "application/json", ...opts.headers };
		if (opts.token) headers.authorization = `Bearer ${opts.token}`;
		if (opts.body !== undefined) headers["content-type"] = "application/json";
		let response: Response;
		try {
			response = await fetch(this.url(path), {
				method,
				headers,
				body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
				signal: AbortSignal.timeout(30_000),
			});
		} catch (error) {
			throw this.unreachable(error);
		}
		let text: string;
		try {
			text = await response.text();
		} catch (error) {
			throw this.answerLost(method, path, error);
		}
		let body: unknown;
		try {
			body = text ? JSON.parse(text) : null;
		} catch {
			body = null;
		}
		if (!response.ok) {
			const apiError = (body as { error?: { message?: unknown; code?: unknown } } | null)?.error;
			const e: GatewayError = {
				status: response.status,
				code: typeof apiError?.code === "string" ? apiError.code : `http_${response.status}`,
				message:
					typeof apiError?.message === "string"
						? apiError.message
						: `${method} ${path} answered ${response.status} ${response.statusText}`.trim(),
			};
			let hint = opts.hint?.(e);
			if (hint === undefined && e.status === 401 && opts.token) hint = "Run `modeldex login` to sign in again.";
			if (hint === undefined && e.status >= 500) hint = `The gateway at ${this.baseUrl} failed; try again, or check its logs.`;
			throw new CliError(e.code, `The gateway said: ${e.message}`, { hint });
		}
		if (body === null) {
			throw new CliError("bad_gateway_response", `${method} ${this.url(path)} did not answer JSON.`, {
				hint: `Check that ${this.baseUrl} is a Modeldex gateway (--gateway / MODELDEX_GATEWAY_URL).`,
			});
		}
		return body as T;
	}

	unreachable(error: unknown): CliError {
		if (error instanceof CliError) return error;
		const timeout = (error as { name?: string }).name === "TimeoutError";
		if (timeout || isConnectionError(error)) {
			return new CliError(
				"gateway_unreachable",
				`Cannot reach the Modeldex gateway at ${this.baseUrl}${timeout ? " (timed out)" : ""}.`,
				{
					hint: "Start the local stack with `npm start`, or point --gateway / MODELDEX_GATEWAY_URL at a running gateway.",
					cause: error,
				},
			);
		}
		return new CliError("gateway_error", `Request to ${this.baseUrl} failed: ${(error as Error).message}`, { cause: error });
	}

	/** The answer broke off (connection lost, timed out) after the gateway had the request: it may have acted on it. */
	private answerLost(method: string, path: string, error: unknown): CliError {
		const timeout = (error as { name?: string }).name === "TimeoutError";
		return new CliError(
			"gateway_answer_lost",
			`The gateway at ${this.baseUrl} stopped answering ${method} ${path} midway${timeout ? " (timed out)" : ""}.`,
			{
				hint:
					method === "GET"
						? "Try again; check the gateway (its logs) if it keeps happening."
						: "It may have done it before the answer was lost: check (e.g. `modeldex withdraw --list`, `modeldex keys list`) before trying again.",
				cause: error,
			},
		);
	}
}

// Shapes of the public API this CLI reads (workers/gateway/schemas/public.ts).

export interface ApiModel {
	id: string;
	object: "model";
	name: string;
	pricing: { input_per_1m_tokens: string; output_per_1m_tokens: string; currency: string };
	max_output_tokens: number;
	huggingface: { repo: string; revision: string | null } | null;
	token: {
		address: string;
		imo_status: "none" | "funding" | "graduated";
		sale_address: string | null;
		pool_address: string | null;
		raised: string | null;
		threshold: string | null;
	} | null;
}

export interface ApiCounters {
	requests: number;
	errors: number;
	prompt_tokens: number;
	completion_tokens: number;
	fees: string;
}

export interface ApiStats {
	model: string;
	total: ApiCounters;
	last_minute: ApiCounters;
	updated_at: number;
}

export interface ApiKey {
	id: string;
	object: "api_key";
	name: string;
	prefix: string;
	spend_cap: string | null;
	spent: string;
	allowed_models: string[] | null;
	created_at: number;
	revoked_at: number | null;
	key?: string;
}
