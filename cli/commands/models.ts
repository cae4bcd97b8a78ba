// modeldex models                   the gateway's catalogue: prices, IMO status, token
// modeldex stats <model> [--watch]  a model's counters; --watch follows the live WebSocket feed
//                                   (partysocket: reconnects by itself) and redraws in place.
import ReconnectingWebSocket from "partysocket/ws";
import { formatPaca } from "../../lib/money.ts";
import { usageError } from "../errors.ts";
import { type ApiCounters, type ApiModel, type ApiStats, Gateway, modelPath } from "../gateway.ts";
import { type Output, paca, table } from "../output.ts";
import type { Command } from "./common.ts";

export const models: Command = {
	name: "models",
	summary: "List the gateway's models with prices and IMO status",
	usage: "models",
	options: {},
	optionHelp: [],
	arity: [0, 0],
	async run({ config, out }) {
		const list = await new Gateway(config.gatewayUrl).request<{ data: ApiModel[] }>("GET", "/v1/models");
		out.result(list.data, () =>
			list.data.length === 0
				? [`${config.gatewayUrl} serves no models yet.`]
				: [
						...table([
							["ID", "NAME", "IN/1M", "OUT/1M", "IMO", "TOKEN"],
							...list.data.map((m) => [
								m.id,
								m.name,
								formatPaca(BigInt(m.pricing.input_per_1m_tokens)),
								formatPaca(BigInt(m.pricing.output_per_1m_tokens)),
								imoText(m),
								m.token?.address ?? "-",
							]),
						]),
						"",
						"Prices in PACA per 1M tokens.",
					],
		);
	},
};

function imoText(m: ApiModel): string {
	if (!m.token) return "not tokenized";
	if (m.token.imo_status === "funding" && m.token.raised && m.token.threshold && BigInt(m.token.threshold) > 0n) {
		const pct = (BigInt(m.token.raised) * 1000n) / BigInt(m.token.threshold);
		return `funding ${pct / 10n}.${pct % 10n}%`;
	}
	return m.token.imo_status;
}

/** Feed and HTTP route both send the API's snake_case shape; older meters sent camelCase, still accepted. One shape for display. */
export function normalizeStats(model: string, raw: unknown): ApiStats | null {
	const r = raw as Record<string, unknown> | null;
	if (!r || typeof r !== "object") return null;
	const counters = (c: unknown): ApiCounters | null => {
		const o = c as Record<string, unknown> | null;
		if (!o || typeof o !== "object") return null;
		return {
			requests: Number(o.requests ?? 0),
			errors: Number(o.errors ?? 0),
			prompt_tokens: Number(o.prompt_tokens ?? o.promptTokens ?? 0),
			completion_tokens: Number(o.completion_tokens ?? o.completionTokens ?? 0),
			fees: String(o.fees ?? "0"),
		};
	};
	const total = counters(r.total);
	const lastMinute = counters(r.last_minute ?? r.lastMinute);
	if (!total || !lastMinute) return null;
	return { model, total, last_minute: lastMinute, updated_at: Number(r.updated_at ?? r.updatedAt ?? Date.now()) };
}

function statsLines(s: ApiStats, status?: string): string[] {
	const row = (label: string, pick: (c: ApiCounters) => string) => [label, pick(s.total), pick(s.last_minute)];
	return [
		`${s.model}${status ? `  ${status}` : ""}`,
		...table([
			["", "ALL TIME", "LAST MINUTE"],
			row("requests", (c) => String(c.requests)),
			row("errors", (c) => String(c.errors)),
			row("prompt tokens", (c) => String(c.prompt_tokens)),
			row("completion tokens", (c) => String(c.completion_tokens)),
			row("fees", (c) => paca(BigInt(c.fees))),
		]),
		`updated ${s.updated_at ? new Date(s.updated_at).toISOString() : "never"}`,
	];
}

export const stats: Command = {
	name: "stats",
	summary: "A model's usage counters; --watch follows them live",
	usage: "stats <model> [--watch]",
	options: { watch: { type: "boolean" } },
	optionHelp: [
		["--watch", "keep the counters on screen, updated live over a WebSocket (Ctrl-C stops; with --json: one line per update)"],
	],
	arity: [1, 1],
	async run({ config, out, args, values }) {
		const id = args[0] ?? "";
		if (id.startsWith("0x"))
			throw usageError(
				"stats takes the model's gateway id (org/name), not a token address.",
				"Run `modeldex models` for the ids.",
			);
		const gateway = new Gateway(config.gatewayUrl);
		const first = await gateway.request<ApiStats>("GET", `/v1/models/${modelPath(id)}/stats`, {
			hint: (e) => (e.status === 404 ? "Run `modeldex models` for the model ids." : undefined),
		});
		if (!values.watch) {
			out.result(first, () => statsLines(first));
			return;
		}
		await watch(gateway, id, first, out);
	},
};

/** How often --watch asks for fresh numbers when no usage arrives: MODELDEX_WATCH_REFRESH_MS, 10 s by default. */
function watchRefreshMs(): number {
	const ms = Number(process.env.MODELDEX_WATCH_REFRESH_MS ?? 10_000);
	return Number.isInteger(ms) && ms >= 100 ? ms : 10_000;
}

async function watch(gateway: Gateway, id: string, first: ApiStats, out: Output): Promise<void> {
	const wsUrl = gateway.url(`/v1/models/${modelPath(id)}/live`).replace(/^http/, "ws");
	const redrawInPlace = !out.json && Boolean(process.stdout.isTTY);
	let drawnLines = 0;
	let latest = first;
	let status = "connecting…";
	let stopped = false;
	const draw = () => {
		if (out.json || stopped) return;
		const lines = statsLines(latest, status);
		if (redrawInPlace) {
			out.write(`${drawnLines ? `\x1b[${drawnLines}A` : ""}\x1b[0J${lines.join("\n")}\n`);
			drawnLines = lines.length;
		} else {
			out.write(`${lines.join("\n")}\n\n`);
		}
	};
	if (out.json) out.jsonLine(first);
	else draw();
	if (redrawInPlace) {
		out.write("\x1b[?25l");
		process.once("exit", () => out.write("\x1b[?25h"));
	}

	const socket = new ReconnectingWebSocket(wsUrl, [], {
		WebSocket: globalThis.WebSocket,
		minReconnectionDelay: 250,
		maxReconnectionDelay: 5_000,
		connectionTimeout: 5_000,
	});
	// The meter sends an update when usage arrives; with none, the last-minute numbers would stay
	// as they were for ever. A "ping" gets the current ones (as the dashboard asks every 10 s).
	const ping = setInterval(() => {
		if (socket.readyState === ReconnectingWebSocket.OPEN) socket.send("ping");
	}, watchRefreshMs());
	await new Promise<void>((resolve) => {
		const stop = () => {
			stopped = true;
			clearInterval(ping);
			socket.close();
			if (redrawInPlace) out.write("\x1b[?25h");
			resolve();
		};
		process.once("SIGINT", stop);
		process.once("SIGTERM", stop);
		socket.addEventListener("open", () => {
			status = "● live";
			draw();
		});
		socket.addEventListener("close", () => {
			if (status === "● live") {
				status = "○ reconnecting…";
				draw();
			}
		});
		socket.addEventListener("message", (event) => {
			if (stopped) return;
			let parsed: unknown;
			try {
				parsed = JSON.parse(String(event.data));
			} catch {
				return;
			}
			const next = normalizeStats(id, parsed);
			if (!next) return;
			latest = next;
			if (out.json) out.jsonLine(next);
			else draw();
		});
	});
	if (!out.json && !redrawInPlace) out.info("stopped");
}
