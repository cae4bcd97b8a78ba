// Workers for bench/stream-costs.ts: the same upstream stream relayed five ways, so the
// CPU each way costs in workerd can be told apart. MODE (esbuild define) picks one:
//   native  the upstream body handed to the Response (the floor)
//   pull    a JS ReadableStream with pull() reading the upstream, no processing
//   pump    a JS loop reading the upstream and writing an IdentityTransformStream, no processing
//   byob    the same loop with a BYOB reader and a 64 KiB buffer (a read takes all that has arrived)
//   meter   the gateway's meterSseStream (workers/gateway/streaming/sse-meter.ts), as deployed

import { meterSseStream } from "../workers/gateway/streaming/sse-meter.ts";
import { relayThroughJs } from "./passthrough-worker.ts";

declare const MODE: "native" | "pull" | "pump" | "byob" | "meter";

interface StreamEnv {
	UPSTREAM_URL: string;
}

export default {
	async fetch(request: Request, env: StreamEnv, ctx: ExecutionContext): Promise<Response> {
		const upstream = await fetch(`${env.UPSTREAM_URL}/chat/completions`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: request.body,
		});
		const body = upstream.body as ReadableStream<Uint8Array>;
		const headers = { "content-type": "text/event-stream" };
		if (MODE === "native") return new Response(body, { headers });
		if (MODE === "meter") {
			const metered = meterSseStream(body, {
				kind: "chat",
				clientWantsUsage: false,
				promptText: "",
				abortUpstream: () => {},
			});
			ctx.waitUntil(metered.result);
			return new Response(metered.body, { headers });
		}
		if (MODE === "byob") {
			const byob = body.getReader({ mode: "byob" });
			const pipe = new IdentityTransformStream();
			const writer = pipe.writable.getWriter();
			ctx.waitUntil(
				(async () => {
					for (;;) {
						const read = await byob.read(new Uint8Array(65536));
						if (read.done) break;
						await writer.write(read.value);
					}
					await writer.close();
				})(),
			);
			return new Response(pipe.readable, { headers });
		}
		const reader = body.getReader();
		if (MODE === "pull") {
			const relayed = new ReadableStream<Uint8Array>(
				{
					async pull(controller) {
						const read = await reader.read();
						if (read.done) controller.close();
						else controller.enqueue(read.value);
					},
				},
				{ highWaterMark: 0 },
			);
			return new Response(relayed, { headers });
		}
		return new Response(relayThroughJs(reader, ctx), { headers });
	},
};
