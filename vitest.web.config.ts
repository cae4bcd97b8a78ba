import { defineConfig } from "vitest/config";

// The dashboard's tests (test/web): plain Node, not workerd. The browser tests
// (dashboard, wallet) each start their own local stack (wrangler dev, stand-in upstream,
// anvil when needed) and drive Debian's Chromium through playwright-core; the others test
// web/src's pure functions directly. Run: npx vitest run -c vitest.web.config.ts
export default defineConfig({
	test: {
		include: ["test/web/**/*.test.ts"],
		testTimeout: 60_000,
		hookTimeout: 240_000,
		fileParallelism: false,
	},
});
