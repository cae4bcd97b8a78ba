// The benchmark's upstream, in its own process so its event loop is not the load
// generator's: the development stand-in (scripts/stand-in-upstream.ts) with a
// fixed service time and no delay between streamed tokens. Prints its URL as one
// JSON line on stdout, then serves until killed.

import { startStandInUpstream } from "../scripts/stand-in-upstream.ts";

const serviceTimeMs = Number(process.env.BENCH_SERVICE_TIME_MS ?? 5);
const upstream = await startStandInUpstream({ serviceTimeMs, tokenDelayMs: 0 });
upstream.server.maxRequestsPerSocket = 0;
console.log(JSON.stringify({ url: upstream.url, serviceTimeMs }));
process.on("SIGTERM", () => {
	void upstream.close().then(() => process.exit(0));
});
