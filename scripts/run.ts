import { type SpawnOptions, spawn } from "node:child_process";

/** Runs a command, streaming its output; rejects with its exit code. */
export function run(command: string, args: string[], options: SpawnOptions = {}): Promise<void> {
	return new Promise((resolve, reject) => {
		const child = spawn(command, args, {
			stdio: "inherit",
			...options,
			env: { WRANGLER_SEND_METRICS: "false", ...process.env, ...options.env },
		});
		child.on("error", reject);
		child.on("exit", (code, signal) =>
			code === 0 ? resolve() : reject(new Error(`${command} ${args.join(" ")} exited with ${code ?? signal}`)),
		);
	});
}
