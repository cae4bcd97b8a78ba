// The runtime floor: a bare pass-through Worker. It forwards the request to the
// upstream unchanged (same path under /v1, same body, same content type) and
// returns the upstream's response as it comes, streaming included. Anything the
// gateway costs above this Worker is the gateway's own work.
//
// MODE = "relay" (the bench's `relay` target): a streamed body is instead relayed
// chunk by chunk through JavaScript, with no processing at all: a read of the
// upstream, a write to an IdentityTransformStream, awaited, per chunk. That is the
// least any gateway that must look at a stream's chunks (to strip the usage chunk,
// end a dead stream with an error event, charge only what was delivered) can do.
//
// MODE = "buffered" (the bench's `buffered` target): a non-stream exchange goes
// through JavaScript whole, with nothing else: the request body read and parsed
// (a metering gateway needs its model and bounds), sent on as text, the answer read
// and parsed (its usage), and returned as a new Response. That is the least any
// gateway that meters a non-stream request by the upstream's usage can do: no keys,
// credit, meter or validation.

// MODE = "garbage" (bench/tail.ts's `garbage` target, an experiment): the floor, plus about
// as many short-lived JavaScript objects per request as the gateway allocates (~16 KiB,
// BENCH_GARBAGE_KIB), made before the upstream call and kept until its answer, as a
// request's own objects are: whether the gateway's tail is what that much allocation
// costs any Worker in its collector.

interface FloorEnv {
	UPSTREAM_URL: string;
	MODE?: "floor" | "relay" | "buffered" | "garbage";
	GARBAGE_KIB?: string;
}

/** About `kib` KiB of small objects and strings, as a request's parsing and bookkeeping leave. */
function garbage(kib: number): unknown[] {
	const out: unknown[] = [];
	// An object with a few fields and a short string: about 128 bytes on V8's heap.
	for (let i = 0; i < kib * 8; i++) out.push({ i, s: `field-${i}-${Math.random()}`, n: i * 2, b: i % 2 === 0 });
	return out;
}

export default {
	async fetch(request: Request, env: FloorEnv, ctx: ExecutionContext): Promise<Response> {
		const url = new URL(request.url);
		const target = `${env.UPSTREAM_URL}${url.pathname.replace(/^\/v1/, "")}`;
		const contentType = request.headers.get("content-type") ?? "application/json";
		if (env.MODE === "buffered") return buffered(request, target, contentType);
		const junk = env.MODE === "garbage" ? garbage(Number(env.GARBAGE_KIB ?? 16)) : null;
		const upstream = await fetch(target, {
			method: request.method,
			headers: { "content-type": contentType },
			body: request.body,
		});
		if (junk && junk.length < 0) throw new Error("kept alive across the upstream call");
		const streamed = upstream.headers.get("content-type")?.startsWith("text/event-stream");
		if (env.MODE !== "relay" || !streamed || !upstream.body) {
			return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
		}
		return new Response(relayThroughJs(upstream.body.getReader(), ctx), { status: upstream.status, headers: upstream.headers });
	},
};

/** The `buffered` mode: both bodies read and parsed in JavaScript (a streamed answer is piped as the floor does). */
async function buffered(request: Request, target: string, contentType: string): Promise<Response> {
	const text = await request.text();
	JSON.parse(text);
	const upstream = await fetch(target, { method: request.method, headers: { "content-type": contentType }, body: text });
	if (upstream.headers.get("content-type")?.startsWith("text/event-stream")) {
		return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
	}
	const answer = await upstream.text();
	JSON.parse(answer);
	return new Response(answer, { status: upstream.status, headers: { "content-type": "application/json" } });
}

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
