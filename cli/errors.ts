// Errors the CLI shows to a person: what went wrong, and what to do next.

export const EXIT = {
	/** Something failed (network, chain, gateway, a revert). */
	failure: 1,
	/** The command line itself is wrong (unknown command or option, a bad amount). */
	usage: 2,
	/** Interrupted with Ctrl-C. */
	interrupted: 130,
} as const;

export class CliError extends Error {
	/** A stable, machine-readable reason, shown in --json output. */
	readonly code: string;
	/** The next step for the user, e.g. "Run `modeldex login` first." */
	readonly hint: string | undefined;
	readonly exitCode: number;

	constructor(code: string, message: string, opts: { hint?: string; exitCode?: number; cause?: unknown } = {}) {
		super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
		this.name = "CliError";
		this.code = code;
		this.hint = opts.hint;
		this.exitCode = opts.exitCode ?? EXIT.failure;
	}
}

export function usageError(message: string, hint?: string): CliError {
	return new CliError("usage", message, {
		hint: hint ?? "Run `modeldex help` for the commands and options.",
		exitCode: EXIT.usage,
	});
}

/** Whether `error` is fetch failing to connect at all (refused, DNS, reset), as opposed to an HTTP answer. */
export function isConnectionError(error: unknown): boolean {
	let e: unknown = error;
	for (let depth = 0; e && depth < 6; depth++) {
		const code = (e as { code?: unknown }).code;
		if (
			typeof code === "string" &&
			/^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|UND_ERR_)/.test(code)
		) {
			return true;
		}
		if (e instanceof TypeError && /fetch failed/i.test(e.message)) return true;
		e = (e as { cause?: unknown }).cause;
	}
	return false;
}
