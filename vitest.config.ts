import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Gateway and Durable Object tests run inside workerd with the bindings from
// wrangler.toml. The global setup (in Node) starts the development stand-in
// upstream on 127.0.0.1 and hands its URL to the Worker as a binding.
export default defineConfig(async () => {
	const migrations = await readD1Migrations("./migrations");
	return {
		plugins: [
			cloudflareTest(({ inject }) => ({
				remoteBindings: false,
				wrangler: { configPath: "./wrangler.toml" },
				miniflare: {
					bindings: {
						TEST_MIGRATIONS: migrations,
						STAND_IN_URL: inject<string>("standInUrl"),
						ADMIN_TOKEN: "test-admin-token-0123456789abcdef",
						SESSION_SECRET: "test-session-secret-0123456789abcdef0123456789",
						// Short enough for the timeout tests to be quick.
						UPSTREAM_HEADERS_TIMEOUT_MS: "1500",
						UPSTREAM_FIRST_BYTE_TIMEOUT_MS: "1500",
						WORKERS_AI_BINDING: "AI_STAND_IN",
						// Low, so the requests-per-minute test needs few requests; each test uses its own keys.
						KEY_REQUESTS_PER_MINUTE: "40",
						// Batches sent at once and leases returned as soon as idle, so a test that waits
						// for the request's deferred work sees the final state; test/gateway/leases.test.ts
						// runs with the production delays.
						BATCH_MS: "0",
						LEASE_IDLE_MS: "0",
						// test/chain: anvil nodes and deployments from test/node/anvil-setup.ts.
						TEST_CHAIN: JSON.stringify(inject("chain")),
					},
					// Workers AI cannot run offline (wrangler's AI binding always goes remote): the
					// gateway is pointed at a stand-in Worker bound as AI_STAND_IN (test/stand-ins).
					serviceBindings: { AI_STAND_IN: { name: "workers-ai-stand-in", entrypoint: "WorkersAIStandIn" } },
					workers: [
						{
							name: "workers-ai-stand-in",
							modules: true,
							scriptPath: "./test/stand-ins/workers-ai.js",
							compatibilityDate: "2026-11-01",
						},
					],
				},
			})),
		],
		test: {
			include: ["test/gateway/**/*.test.ts", "test/chain/**/*.test.ts"],
			// test/chain runs real nodes, and its fault tests wait out viem's retries of an injected RPC
			// error: 5 s (the default) is tight on a loaded 2-core CI box, where one took 4.7 s and
			// another timed out.
			testTimeout: 30_000,
			globalSetup: ["./test/node/global-setup.ts", "./test/node/anvil-setup.ts"],
			setupFiles: ["./test/helpers/apply-migrations.ts"],
		},
	};
});
