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
					},
				},
			})),
		],
		test: {
			include: ["test/gateway/**/*.test.ts"],
			globalSetup: ["./test/node/global-setup.ts"],
			setupFiles: ["./test/helpers/apply-migrations.ts"],
		},
	};
});
