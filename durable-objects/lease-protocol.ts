// What a gateway isolate and a payer's AccountLedger exchange about a credit lease
// (workers/gateway/leases.ts on one side, AccountLedger.sync on the other). Plain
// data and helpers, no runtime imports, so both sides and the benchmarks share it.

/** How a request ended (an error with no completion is free). Stored as D1 `usage.status`. */
export type RequestStatus = "ok" | "error";
/** Where a request's token counts came from: the upstream's usage, our tokenizer, or nowhere (nothing ran). */
export type UsageSource = "upstream" | "counted" | "none";

/** Credit, requests and tokens: what a lease asks for, or its running totals. */
export interface LeaseAmounts {
	credit: bigint;
	requests: number;
	tokens: number;
}

/** One request a lease admitted and finished. Its id is leaseRequestId(leaseId, seq). */
export interface LeaseRecord {
	seq: number;
	modelId: string;
	promptTokens: number;
	completionTokens: number;
	/** What the request cost at the model's prices. */
	cost: bigint;
	/** The upper bound the isolate admitted it against; the charge is min(cost, hold). */
	hold: bigint;
	status: RequestStatus;
	usageSource: UsageSource;
	createdAt: number;
	finishedAt: number;
}

export interface LeaseSyncInput {
	/** 16 hex digits, chosen by the isolate; request ids under the lease embed it. */
	leaseId: string;
	keyHash: string;
	/** True until the isolate has heard back about this lease once: only then may the ledger open it. */
	create: boolean;
	records: LeaseRecord[];
	/** Highest sequence number admitted so far, and those admitted but not finished. */
	issued: number;
	inFlight: number[];
	/**
	 * The isolate's count of syncs sent under this lease, this one included: which report of
	 * `issued` and `inFlight` is newest. Syncs of one lease can overlap (a top-up and a batch)
	 * and arrive out of order; an older report does not replace a newer one.
	 */
	snapshot: number;
	/** Refuse (and grant nothing) unless at least this much more can be granted; null to ask for nothing. */
	need: LeaseAmounts | null;
	/** Grant up to this much more. */
	want: LeaseAmounts | null;
	requestsPerMinute: number;
	tokensPerMinute: number;
	/** Give back whatever the lease has not used; nothing of it may be in flight. */
	close: boolean;
	now: number;
}

/** A lease's totals since it opened (they only grow), for the isolate to admit against. */
export interface LeaseGrant {
	keyId: string;
	allowedModels: string[] | null;
	credit: bigint;
	requests: number;
	tokens: number;
	/** The isolate admits nothing under the lease after this time without syncing again. */
	useUntil: number;
}

export interface LeaseSyncResult {
	/** What each record was charged, in order. */
	charges: bigint[];
	/** Null when the lease is closed (closed on request, key revoked, or unknown to the ledger). */
	lease: LeaseGrant | null;
	refusal: {
		code: "invalid_api_key" | "insufficient_quota" | "rate_limit_exceeded" | "lease_unknown";
		message: string;
		retryAfterSeconds: number;
	} | null;
}

/** Request ids under a lease: "req_" + the lease id + the sequence number, 32 hex digits like any other. */
export function leaseRequestId(leaseId: string, seq: number): string {
	return `req_${leaseId}${seq.toString(16).padStart(16, "0")}`;
}

/** The lease and sequence number a request id would have if a lease issued it. */
export function parseLeaseRequestId(requestId: string): { leaseId: string; seq: number } {
	return { leaseId: requestId.slice(4, 20), seq: Number.parseInt(requestId.slice(20), 16) };
}

/** Admission under a lease ends this long after the lease's last sync. */
export const LEASE_USE_MS = 5_000;
