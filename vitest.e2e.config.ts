import { defineConfig } from "vitest/config";

// The end-to-end loop (test/e2e) in Node against the real local stack that `npm start` runs.
export default defineConfig({
	test: { include: ["test/e2e/**/*.test.ts"], testTimeout: 420_000, hookTimeout: 200_000 },
});
