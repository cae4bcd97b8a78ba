// The runtime floor: a bare pass-through Worker. It forwards the request to the
// upstream unchanged (same path under /v1, same body, same content type) and
// returns the upstream's response as it comes, streaming included. Anything the
// gateway costs above this Worker is the gateway's own work.

interface FloorEnv {
	UPSTREAM_URL: string;
}

export default {
	async fetch(request: Request, env: FloorEnv): Promise<Response> {
		const url = new URL(request.url);
		const upstream = await fetch(`${env.UPSTREAM_URL}${url.pathname.replace(/^\/v1/, "")}`, {
			method: request.method,
			headers: { "content-type": request.headers.get("content-type") ?? "application/json" },
			body: request.body,
		});
		return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
	},
};
