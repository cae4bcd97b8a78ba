import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

// The holders' dashboard. `npx vite build web` writes web/dist, which the gateway Worker
// serves as static assets (wrangler.toml [assets]). `npx vite web` serves it with hot
// reload and forwards the API (and the live WebSockets) to the local stack of `npm start`.
const api = process.env.MODELDEX_API ?? "http://127.0.0.1:8787";

export default defineConfig({
	plugins: [preact()],
	build: { outDir: "dist", emptyOutDir: true, target: "es2022", reportCompressedSize: true },
	server: {
		proxy: {
			"/v1": { target: api, ws: true, changeOrigin: false },
			"/openapi.json": api,
			"/docs": api,
		},
	},
});
