import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

// A JSON-RPC proxy in front of an anvil node that fails chosen calls on demand: how the
// chain tests make an RPC fail at one exact point of a run (a real node does, now and
// then), which anvil itself cannot do. Rules are kept per scope, the first path segment
// (`<url>/<scope>`), so test files running in parallel do not disturb each other.
//
//   POST <url>/<scope>/__faults   {"after"?: method, "fail": [{"method", "data"?}]}
//       from the first successful call of `after` on (at once without it), every call of a
//       listed method fails (HTTP 200, JSON-RPC error -32603, or -32005 with `message`), for
//       eth_call only those whose calldata starts with `data` (a function selector, say), for
//       eth_getLogs only those spanning more than `wider` blocks (a provider's range cap; one without a
//       numeric toBlock spans up to the head, so it counts as wider than any)
//   DELETE <url>/<scope>/__faults   clears the scope's rules
// Anything else under <url>/<scope> is forwarded to the node.

export interface FaultRule {
	method: string;
	/** For eth_call: only calls whose calldata starts with this (lower-case hex). */
	data?: string;
	/** For eth_getLogs: only calls spanning more than this many blocks. */
	wider?: number;
	/** The error's message (code -32005, as providers answer a too large query); "injected fault" (-32603) without. */
	message?: string;
}

interface Scope {
	after: string | null;
	armed: boolean;
	fail: FaultRule[];
}

interface RpcCall {
	id?: unknown;
	method?: string;
	params?: unknown[];
}

export async function startRpcFaults(target: string): Promise<{ url: string; server: Server }> {
	const scopes = new Map<string, Scope>();
	const server = createServer(async (req, res) => {
		const [, scope = "", control] = (req.url ?? "/").split("/");
		const body = await readBody(req);
		const reply = (status: number, json: unknown) => {
			res.writeHead(status, { "content-type": "application/json" });
			res.end(JSON.stringify(json));
		};
		if (control === "__faults") {
			if (req.method === "DELETE") scopes.delete(scope);
			else {
				const rules = JSON.parse(body) as { after?: string; fail: FaultRule[] };
				scopes.set(scope, { after: rules.after ?? null, armed: !rules.after, fail: rules.fail });
			}
			reply(200, { ok: true });
			return;
		}
		const rules = scopes.get(scope);
		const calls = JSON.parse(body) as RpcCall | RpcCall[];
		const list = Array.isArray(calls) ? calls : [calls];
		const failing = rules?.armed ? list.find((call) => rules.fail.some((rule) => matches(rule, call))) : undefined;
		if (failing) {
			const rule = rules?.fail.find((r) => matches(r, failing));
			const error = (call: RpcCall) => ({
				jsonrpc: "2.0",
				id: call.id ?? null,
				error: rule?.message ? { code: -32005, message: rule.message } : { code: -32603, message: "injected fault" },
			});
			reply(200, Array.isArray(calls) ? list.map(error) : error(failing));
			return;
		}
		const upstream = await fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body });
		const text = await upstream.text();
		if (rules && !rules.armed && upstream.ok && list.some((call) => call.method === rules.after) && !text.includes('"error"')) {
			rules.armed = true;
		}
		res.writeHead(upstream.status, { "content-type": "application/json" });
		res.end(text);
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function matches(rule: FaultRule, call: RpcCall): boolean {
	if (call.method !== rule.method) return false;
	if (rule.wider !== undefined) {
		const filter = call.params?.[0] as { fromBlock?: string; toBlock?: string } | undefined;
		// No toBlock, or a tag ("latest"), spans up to the head: as wide as a provider counts it.
		const to = filter?.toBlock?.startsWith("0x") ? Number(filter.toBlock) : Number.POSITIVE_INFINITY;
		const span = to - Number(filter?.fromBlock ?? 0) + 1;
		if (span <= rule.wider) return false;
	}
	if (rule.data === undefined) return true;
	const tx = call.params?.[0] as { data?: string; input?: string } | undefined;
	return (tx?.data ?? tx?.input ?? "").toLowerCase().startsWith(rule.data.toLowerCase());
}

function readBody(req: IncomingMessage): Promise<string> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		req.on("data", (chunk: Buffer) => chunks.push(chunk));
		req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
		req.on("error", reject);
	});
}
