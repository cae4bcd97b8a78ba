import { defineConfig } from "vitest/config";

// The `modeldex` CLI's tests: plain Node (not workerd). Each file starts what it needs itself
// (anvil + contracts, a Hugging Face stand-in, the gateway under `wrangler dev`) and runs the
// CLI as a child process; deploy-contracts.test.ts calls scripts/deploy-contracts.ts, the contract
// deploy CLI, as a module. Run: npx vitest run -c vitest.cli.config.ts
export default defineConfig({
	test: {
		include: ["test/cli/**/*.test.ts"],
		environment: "node",
		pool: "forks",
		testTimeout: 60_000,
		hookTimeout: 120_000,
	},
});
