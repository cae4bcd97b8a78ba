import ReconnectingWebSocket from "partysocket/ws";
import { useEffect, useState } from "preact/hooks";
import { type ModelStats, modelPath } from "./api.ts";

export type LiveStatus = "connecting" | "live" | "reconnecting";

// How often to ask for fresh numbers while nothing happens: the meter pushes on every
// call, but "last minute" counters also fall as time passes.
const PING_MS = 10_000;

/**
 * A model's counters over its WebSocket (/v1/models/{id}/live). partysocket does the
 * reconnecting (with backoff); this hook only reports the state so the page can say so.
 */
export function useLiveStats(modelId: string): { stats: ModelStats | null; status: LiveStatus; reconnects: number } {
	const [stats, setStats] = useState<ModelStats | null>(null);
	const [status, setStatus] = useState<LiveStatus>("connecting");
	const [reconnects, setReconnects] = useState(0);
	useEffect(() => {
		// Another model's counters, status and reconnects are not this one's.
		setStats(null);
		setStatus("connecting");
		setReconnects(0);
		const scheme = location.protocol === "https:" ? "wss" : "ws";
		const socket = new ReconnectingWebSocket(`${scheme}://${location.host}${modelPath(modelId)}/live`, [], {
			minReconnectionDelay: 500,
			maxReconnectionDelay: 10_000,
			connectionTimeout: 5_000,
		});
		let opened = false;
		socket.addEventListener("open", () => {
			if (opened) setReconnects((n) => n + 1);
			opened = true;
			setStatus("live");
		});
		socket.addEventListener("close", () => setStatus(opened ? "reconnecting" : "connecting"));
		socket.addEventListener("message", (event) => {
			const message = liveStatsFor(String(event.data), modelId);
			if (message) setStats(message);
		});
		const ping = setInterval(() => {
			if (socket.readyState === ReconnectingWebSocket.OPEN) socket.send("ping");
		}, PING_MS);
		return () => {
			clearInterval(ping);
			socket.close();
		};
	}, [modelId]);
	return { stats, status, reconnects };
}

/**
 * A feed message as this model's stats, or null when it is not one. The socket is per
 * model already: a message naming no model counts as this one's, and so does the empty
 * name a meter sends until the model's first recorded call (a fresh model would
 * otherwise show "…" under a "Live" badge until someone calls it).
 */
export function liveStatsFor(text: string, modelId: string): ModelStats | null {
	const message = toStats(text);
	if (!message || (message.model !== null && message.model !== "" && message.model !== modelId)) return null;
	return { ...message, model: modelId };
}

type RawCounters = Partial<
	Record<"requests" | "errors" | "prompt_tokens" | "promptTokens" | "completion_tokens" | "completionTokens", number>
> & {
	fees?: string | number;
};

/**
 * A feed message as ModelStats. The meter sends the snake_case shape of
 * /v1/models/{id}/stats; older meters sent their own camelCase MeterStats
 * (modelId, lastMinute, promptTokens, …), which is still accepted.
 */
function toStats(text: string): (Omit<ModelStats, "model"> & { model: string | null }) | null {
	let raw: Record<string, unknown>;
	try {
		raw = JSON.parse(text) as Record<string, unknown>;
	} catch {
		return null;
	}
	const counters = (value: unknown) => {
		const c = value as RawCounters | undefined;
		if (!c || typeof c.requests !== "number" || c.fees === undefined || !/^\d+$/.test(String(c.fees))) return null;
		return {
			requests: c.requests,
			errors: c.errors ?? 0,
			prompt_tokens: c.prompt_tokens ?? c.promptTokens ?? 0,
			completion_tokens: c.completion_tokens ?? c.completionTokens ?? 0,
			fees: String(c.fees),
		};
	};
	const total = counters(raw.total);
	const lastMinute = counters(raw.last_minute ?? raw.lastMinute);
	if (!total || !lastMinute) return null;
	const model = raw.model ?? raw.modelId;
	const updatedAt = raw.updated_at ?? raw.updatedAt;
	return {
		model: typeof model === "string" ? model : null,
		total,
		last_minute: lastMinute,
		updated_at: typeof updatedAt === "number" ? updatedAt : Date.now(),
	};
}
