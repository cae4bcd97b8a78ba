// A DevTools protocol session with one Worker's isolate, over the inspector Miniflare
// exposes for a workerd process (its `inspectorPort`): bench/profile.ts and bench/garbage.ts.

export type Inspector = Awaited<ReturnType<typeof openInspector>>;

/** The session with the isolate of the Worker `workerName` (its target is titled `core:user:<name>`). */
export async function openInspector(port: number, workerName: string) {
	const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{
		title?: string;
		webSocketDebuggerUrl: string;
	}>;
	// Exactly this Worker's: a looser match finds another of the process's Workers ("gateway" in
	// "gateway-objects"), and its figures would pass for this one's.
	const entry = list.find((e) => e.title === workerName || e.title?.endsWith(`:${workerName}`));
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
