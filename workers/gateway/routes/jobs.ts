import { jsonBigint } from "../../../lib/json.ts";
import type { App } from "../app.ts";
import { ApiError } from "../errors.ts";

// POST /v1/admin/jobs/{indexer|settler}: runs a cron Worker now, through a service
// binding to its Jobs entrypoint. The deployed gateway has no such bindings (the cron
// Workers bind the gateway, so the reverse would make the first deploy circular); the
// local stack's generated gateway config adds them, since `wrangler dev` only serves
// the first of several Workers it runs in one process. Admin token required (the
// /v1/admin/* middleware in admin.ts).
export function registerJobRoutes(app: App): void {
	app.post("/v1/admin/jobs/:name", async (c) => {
		const name = c.req.param("name");
		const job = name === "indexer" ? c.env.JOBS_INDEXER : name === "settler" ? c.env.JOBS_SETTLER : undefined;
		if (name !== "indexer" && name !== "settler") throw new ApiError("not_found", `No job '${name}'.`, { param: "name" });
		if (!job) throw new ApiError("not_found", `The ${name} is not bound to this gateway (only the local stack binds it).`);
		const result = await job.run();
		return new Response(JSON.stringify(result, jsonBigint), { headers: { "content-type": "application/json" } });
	});
}
