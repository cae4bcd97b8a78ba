import { defineConfig } from "vitest/config";

// The dashboard's browser tests (test/web): plain Node, not workerd. Each file starts
// its own local stack (wrangler dev, stand-in upstream, anvil when needed) and drives
// Debian's Chromium through playwright-core. Run: npx vitest run -c vitest.web.config.ts
export default defineConfig({
	test: {
		include: ["test/web/**/*.test.ts"],
		testTimeout: 60_000,
		hookTimeout: 240_000,
		fileParallelism: false,
	},
});
