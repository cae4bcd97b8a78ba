import type { TestProject } from "vitest/node";
import { startStandInUpstream } from "../../scripts/stand-in-upstream.ts";

// Runs in Node before the workerd tests: a real HTTP server on 127.0.0.1 that
// speaks the OpenAI format (the development stand-in, not a model).
export default async function setup(project: TestProject) {
	const upstream = await startStandInUpstream({ tokenDelayMs: 5 });
	project.provide("standInUrl", upstream.url);
	return async () => {
		await upstream.close();
	};
}

declare module "vitest" {
	export interface ProvidedContext {
		standInUrl: string;
	}
}
