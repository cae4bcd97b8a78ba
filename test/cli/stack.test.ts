// scripts/stack.ts (what `npm start` runs), its in-process parts: when the dashboard is built again,
// and a start refused before anything runs when one of its ports is taken.
import { existsSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import type { Hex } from "viem";
import { describe, expect, test } from "vitest";
import { dashboardBuild, deployedCodeChanged, deployedCodeFingerprint, startStack } from "../../scripts/stack.ts";
import { freePort, tempDir } from "./helpers.ts";

/** Writes `path` under `root` with its modification time `secondsAgo` in the past. */
function fileAt(root: string, path: string, secondsAgo: number): void {
	const full = join(root, path);
	mkdirSync(dirname(full), { recursive: true });
	writeFileSync(full, "x");
	const at = Date.now() / 1000 - secondsAgo;
	utimesSync(full, at, at);
}

describe("npm start's dashboard build", () => {
	test("builds when there is none, and again when a source or the ABIs it imports changed after it", async () => {
		const dir = tempDir("stack");
		const root = dir.path;
		try {
			fileAt(root, "web/src/pages/model.tsx", 100);
			fileAt(root, "lib/chain/abis.ts", 100);
			expect(await dashboardBuild(root)).toBe("none");
			fileAt(root, "web/dist/index.html", 50);
			expect(await dashboardBuild(root)).toBe("current");
			// A `git pull` that changed a page, deep in web/src.
			fileAt(root, "web/src/pages/model.tsx", 10);
			expect(await dashboardBuild(root)).toBe("stale");
			fileAt(root, "web/dist/index.html", 5);
			expect(await dashboardBuild(root)).toBe("current");
			fileAt(root, "lib/chain/abis.ts", 1);
			expect(await dashboardBuild(root)).toBe("stale");
			// A dependency bumped (npm install after a pull).
			fileAt(root, "web/dist/index.html", 0);
			fileAt(root, "package-lock.json", -1);
			expect(await dashboardBuild(root)).toBe("stale");
		} finally {
			dir.remove();
		}
	});

	test("warns on a resumed start when the contracts compiled now are not the ones its chain runs", async () => {
		const dir = tempDir("stack");
		try {
			const code: Record<string, Hex> = { LocalPaca: "0x01", RevenueVault: "0x02", ModelFactory: "0x03" };
			const deployed = deployedCodeFingerprint((name) => code[name] as Hex);
			// A state from before fingerprints were kept: nothing to compare with, no warning.
			expect(await deployedCodeChanged(dir.path, deployed)).toBeNull();
			writeFileSync(join(dir.path, "deployed-code.txt"), `${deployed}\n`);
			expect(await deployedCodeChanged(dir.path, deployed)).toBeNull();
			// A pull changed the factory (and so the token or sale it deploys).
			const pulled = deployedCodeFingerprint((name) => (name === "ModelFactory" ? "0x0304" : (code[name] as Hex)));
			expect(pulled).not.toBe(deployed);
			expect(await deployedCodeChanged(dir.path, pulled)).toMatch(/npm start -- --fresh/);
			// The build npm start deploys from now.
			expect(deployedCodeFingerprint()).toMatch(/^0x[0-9a-f]{64}$/);
		} finally {
			dir.remove();
		}
	});
});

describe("npm start's ports", () => {
	test("a port another process holds stops the start before anything runs, naming the port and the variable that moves it", async () => {
		const dir = tempDir("stack-ports");
		// Say, an anvil of one's own on the chain's port: the stack must not deploy to it.
		const busy = createServer();
		await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
		const taken = (busy.address() as { port: number }).port;
		const state = join(dir.path, "state");
		try {
			const start = startStack({
				stateDir: state,
				anvilPort: taken,
				gatewayPort: await freePort(),
				standInPort: Number.NaN,
				log: () => {},
				childOutput: "ignore",
			});
			await expect(start).rejects.toThrow(
				new RegExp(`port ${taken} \\(anvil\\) is already in use.*MODELDEX_RPC_PORT.*STAND_IN_PORT: 'NaN' is not a port number`),
			);
			// Nothing was started or written.
			expect(existsSync(state)).toBe(false);
		} finally {
			busy.close();
			dir.remove();
		}
	});
});
