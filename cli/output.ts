// What the user sees. Results go to stdout: text for people, one JSON document with --json.
// Progress and warnings go to stderr, so `--json` output stays parseable while a command
// waits on the chain. Amounts in JSON are decimal strings of base units (as in the API).
import { formatPaca } from "../lib/money.ts";
import type { CliError } from "./errors.ts";

export interface OutputOptions {
	json: boolean;
	quiet: boolean;
	stdout?: NodeJS.WriteStream;
	stderr?: NodeJS.WriteStream;
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export interface Step {
	/** Replaces the step's detail (e.g. "sent 0xabc…, waiting for it to be mined"); a transient one only shows on a terminal. */
	update(detail: string, transient?: boolean): void;
	done(detail?: string): void;
	fail(detail?: string): void;
}

export class Output {
	readonly json: boolean;
	readonly quiet: boolean;
	private readonly out: NodeJS.WriteStream;
	private readonly err: NodeJS.WriteStream;

	constructor(opts: OutputOptions) {
		this.json = opts.json;
		this.quiet = opts.quiet;
		this.out = opts.stdout ?? process.stdout;
		this.err = opts.stderr ?? process.stderr;
	}

	get interactive(): boolean {
		return Boolean(this.err.isTTY) && !this.quiet;
	}

	/** The command's result: `data` as JSON with --json, else the text lines. */
	result(data: unknown, text: () => string | string[]): void {
		if (this.json) {
			this.out.write(`${toJson(data)}\n`);
			return;
		}
		const lines = text();
		this.out.write(`${Array.isArray(lines) ? lines.join("\n") : lines}\n`);
	}

	/** A line of JSON (for streams such as `stats --watch --json`). */
	jsonLine(data: unknown): void {
		this.out.write(`${JSON.stringify(data, bigintReplacer)}\n`);
	}

	/** Raw text to stdout (used by redrawing views). */
	write(text: string): void {
		this.out.write(text);
	}

	info(message: string): void {
		if (!this.quiet) this.err.write(`${message}\n`);
	}

	warn(message: string): void {
		this.err.write(`warning: ${message}\n`);
	}

	/** A step that waits (a transaction, a request); a spinner on a terminal, two lines otherwise. */
	step(label: string): Step {
		if (this.quiet) return { update() {}, done() {}, fail() {} };
		const started = Date.now();
		let detail = "";
		const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
		if (!this.interactive) {
			this.err.write(`… ${label}\n`);
			let lastDetail = "";
			return {
				update: (d, transient) => {
					// Each new fact once (a tx hash), without the spinner's repetition.
					if (transient) return;
					if (d !== lastDetail) this.err.write(`  ${d}\n`);
					lastDetail = d;
				},
				done: (d) => this.err.write(`✔ ${label}${d ? ` — ${d}` : ""} (${elapsed()})\n`),
				fail: (d) => this.err.write(`✖ ${label}${d ? ` — ${d}` : ""} (${elapsed()})\n`),
			};
		}
		let frame = 0;
		const draw = () => {
			const spin = SPINNER[frame++ % SPINNER.length];
			// One line, cut to the terminal's width, so \r can redraw it (a wrapped line would not be).
			const time = elapsed();
			const room = Math.max(20, (this.err.columns || 100) - time.length - 4);
			let text = `${label}${detail ? ` — ${detail}` : ""}`;
			if (text.length > room) text = `${text.slice(0, room - 1)}…`;
			this.err.write(`\r\x1b[2K${spin} ${text} ${dim(time)}`);
		};
		draw();
		const timer = setInterval(draw, 100);
		timer.unref();
		const finish = (mark: string, d?: string) => {
			clearInterval(timer);
			const text = d ?? detail;
			this.err.write(`\r\x1b[2K${mark} ${label}${text ? ` — ${text}` : ""} ${dim(elapsed())}\n`);
		};
		return {
			update: (d) => {
				detail = d;
				draw();
			},
			done: (d) => finish("\x1b[32m✔\x1b[0m", d),
			fail: (d) => finish("\x1b[31m✖\x1b[0m", d),
		};
	}

	/** Shows an error: JSON on stdout with --json (scripts read one stream), text on stderr otherwise. */
	error(error: CliError): void {
		if (this.json) {
			this.out.write(`${toJson({ error: { code: error.code, message: error.message, hint: error.hint ?? null } })}\n`);
			return;
		}
		this.err.write(`error: ${error.message}\n`);
		if (error.hint) this.err.write(`  ${error.hint.replace(/\n/g, "\n  ")}\n`);
	}
}

function dim(text: string): string {
	return `\x1b[2m${text}\x1b[0m`;
}

function bigintReplacer(_key: string, value: unknown): unknown {
	return typeof value === "bigint" ? value.toString() : value;
}

export function toJson(data: unknown): string {
	return JSON.stringify(data, bigintReplacer, 2);
}

/** For people: at most `places` decimals, cut (never rounded up); exact values are in --json. */
export function display(amount: bigint, decimals = 18, places = 6): string {
	const exact = formatPaca(amount, decimals);
	const [whole, fraction = ""] = exact.split(".");
	const cut = fraction.slice(0, places).replace(/0+$/, "");
	if (amount !== 0n && whole === "0" && !cut) return `<0.${"0".repeat(places - 1)}1`;
	return cut ? `${whole}.${cut}` : `${whole}`;
}

/** "1.5 PACA" from base units. */
export function paca(amount: bigint): string {
	return `${display(amount)} PACA`;
}

/** A token amount with its symbol, 18 decimals unless told. */
export function tokens(amount: bigint, symbol: string, decimals = 18): string {
	return `${display(amount, decimals)} ${symbol}`;
}

/** Fixed-width text table; the first row is the header. */
export function table(rows: string[][]): string[] {
	const widths: number[] = [];
	for (const row of rows) {
		for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
	}
	return rows.map((row) =>
		row
			.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
			.join("  ")
			.trimEnd(),
	);
}
