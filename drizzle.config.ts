import { defineConfig } from "drizzle-kit";

// Generates the D1 migrations every Worker applies: `npm run db:generate`.
export default defineConfig({
	dialect: "sqlite",
	schema: "./lib/db/schema.ts",
	out: "./migrations",
});
