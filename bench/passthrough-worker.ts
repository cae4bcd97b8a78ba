// The runtime floor: a bare pass-through Worker. It forwards the request to the
// upstream unchanged (same path under /v1, same body, same content type) and
// returns the upstream's response as it comes, streaming included. Anything the
// gateway costs above this Worker is the gateway's own work.
//
// With RELAY = "1" (the bench's `relay` target) a streamed body is instead relayed
// chunk by chunk through JavaScript, with no processing at all: a read of the
// upstream, a write to an IdentityTransformStream, awaited, per chunk. That is the
// least any gateway that must look at a stream's chunks (to strip the usage chunk,
// end a dead stream with an error event, charge only what was delivered) can do.

interface FloorEnv {
	UPSTREAM_URL: string;
	RELAY?: string;
}

export default {
	async fetch(request: Request, env: FloorEnv, ctx: ExecutionContext): Promise<Response> {
		const url = new URL(request.url);
		const upstream = await fetch(`${env.UPSTREAM_URL}${url.pathname.replace(/^\/v1/, "")}`, {
			method: request.method,
			headers: { "content-type": request.headers.get("content-type") ?? "application/json" },
			body: request.body,
		});
		const streamed = upstream.headers.get("content-type")?.startsWith("text/event-stream");
		if (env.RELAY !== "1" || !streamed || !upstream.body) {
			return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
		}
		return new Response(relayThroughJs(upstream.body.getReader(), ctx), { status: upstream.status, headers: upstream.headers });
	},
};

/** Each chunk read from `reader` and written, awaited, to an IdentityTransformStream whose readable side is returned. */
export function relayThroughJs(reader: ReadableStreamDefaultReader<Uint8Array>, ctx: ExecutionContext): ReadableStream {
	const pipe = new IdentityTransformStream();
	const writer = pipe.writable.getWriter();
	ctx.waitUntil(
		(async () => {
			for (;;) {
				const read = await reader.read();
				if (read.done) break;
				await writer.write(read.value);
			}
			await writer.close();
		})(),
	);
	return pipe.readable;
}
