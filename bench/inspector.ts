// A DevTools protocol session with one Worker's isolate, over the inspector Miniflare
// exposes for a workerd process (its `inspectorPort`): bench/profile.ts and bench/garbage.ts.

export type Inspector = Awaited<ReturnType<typeof openInspector>>;

/**
 * The session with the isolate of the Worker `workerName` (its target is titled
 * `core:user:<name>`), or with the target whose id is `workerName` when `byId`.
 */
export async function openInspector(port: number, workerName: string, byId = false) {
	const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{
		id?: string;
		title?: string;
		webSocketDebuggerUrl: string;
	}>;
	// Exactly this Worker's: a looser match finds another of the process's Workers ("gateway" in
	// "gateway-objects"), and its figures would pass for this one's.
	const entry = byId
		? list.find((e) => e.id === workerName)
		: list.find((e) => e.title === workerName || e.title?.endsWith(`:${workerName}`));
	if (!entry) throw new Error(`no inspector target for ${workerName} on port ${port}: ${list.map((e) => e.title).join(", ")}`);
	const ws = new WebSocket(entry.webSocketDebuggerUrl);
	await new Promise((res, rej) => {
		ws.onopen = res;
		ws.onerror = rej;
	});
	let next = 1;
	const waiting = new Map<number, (result: unknown) => void>();
	const listeners = new Map<string, (params: unknown) => void>();
	ws.onmessage = (event) => {
		const msg = JSON.parse(String(event.data)) as {
			id?: number;
			result?: unknown;
			error?: unknown;
			method?: string;
			params?: unknown;
		};
		if (msg.id !== undefined)
			waiting.get(msg.id)?.(msg.error ? Promise.reject(new Error(JSON.stringify(msg.error))) : msg.result);
		else if (msg.method) listeners.get(msg.method)?.(msg.params);
	};
	return {
		/** Calls `fn` with each event `method` sends. */
		on(method: string, fn: (params: unknown) => void) {
			listeners.set(method, fn);
		},
		send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
			const id = next++;
			ws.send(JSON.stringify({ id, method, params }));
			return new Promise<T>((res) => waiting.set(id, res as (r: unknown) => void));
		},
		close: () => ws.close(),
	};
}

/**
 * A full collection in every isolate of one workerd process (every Worker its inspector on
 * `port` lists: the measured Worker, and Miniflare's own on its path, such as `outbound:0`,
 * which every outgoing fetch passes through). workerd serves an isolate's inspector from its
 * event loop, so `wake` sends requests that reach them; an isolate that no request reaches in
 * `timeoutMs` is left as it is. Returns how many of how many were collected.
 */
export async function collectEverywhere(
	port: number,
	wake: () => Promise<unknown>,
	timeoutMs = 3000,
): Promise<{ collected: number; of: number }> {
	const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ id: string }>;
	const sessions = await Promise.all(list.map((e) => openInspector(port, e.id, true)));
	let timer: ReturnType<typeof setTimeout> | undefined;
	const timeout = new Promise<"timeout">((res) => {
		timer = setTimeout(() => res("timeout"), timeoutMs);
	});
	const done = sessions.map((s) => Promise.race([s.send("HeapProfiler.collectGarbage").then(() => "done" as const), timeout]));
	let settled = false;
	const all = Promise.all(done).finally(() => {
		settled = true;
	});
	while (!settled) await Promise.race([wake(), all]);
	clearTimeout(timer);
	const outcomes = await all;
	for (const s of sessions) s.close();
	return { collected: outcomes.filter((o) => o === "done").length, of: sessions.length };
}
