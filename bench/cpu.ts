// How busy the machine was with work that is not the benchmark's, per pass. The
// box is shared (2 cores); another process's test run in the middle of a pass
// skews that pass, so every pass reports the CPU the rest of the machine used.
// Linux only (/proc); elsewhere the figures are NaN.

import { readdirSync, readFileSync } from "node:fs";
import { METER_FLUSH_DELAY_MS } from "../lib/meter-timing.ts";

const TICKS_PER_SECOND = 100;

interface CpuSnapshot {
	at: number;
	/** Busy ticks of the whole machine (all cores). */
	busy: number;
	/** Busy ticks of this process and each descendant (the upstream, workerd), by pid. */
	ours: Map<number, number>;
}

function procStat(pid: string): { ppid: number; ticks: number } | null {
	try {
		const text = readFileSync(`/proc/${pid}/stat`, "utf8");
		// Fields after the ")" that closes the command name: state ppid ... utime(14) stime(15).
		const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
		return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
	} catch {
		return null;
	}
}

export function cpuSnapshot(): CpuSnapshot {
	try {
		const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
		// cpu user nice system idle iowait irq softirq steal
		const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
		const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
		const stats = new Map<number, { ppid: number; ticks: number }>();
		for (const pid of readdirSync("/proc")) {
			if (!/^\d+$/.test(pid)) continue;
			const s = procStat(pid);
			if (s) stats.set(Number(pid), s);
		}
		const ours = new Set<number>([process.pid]);
		let grew = true;
		while (grew) {
			grew = false;
			for (const [pid, s] of stats) {
				if (!ours.has(pid) && ours.has(s.ppid)) {
					ours.add(pid);
					grew = true;
				}
			}
		}
		const oursTicks = new Map<number, number>();
		for (const pid of ours) oursTicks.set(pid, stats.get(pid)?.ticks ?? 0);
		return { at: performance.now(), busy, ours: oursTicks };
	} catch {
		return { at: performance.now(), busy: Number.NaN, ours: new Map() };
	}
}

/** Cores' worth of CPU used between two snapshots: by the benchmark, and by everything else. */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): { ours: number; others: number } {
	const seconds = (b.at - a.at) / 1000;
	// Per process, so a child that exited or was replaced in between does not count negative.
	let ticks = 0;
	for (const [pid, t] of b.ours) ticks += Math.max(0, t - (a.ours.get(pid) ?? 0));
	const ours = ticks / TICKS_PER_SECOND / seconds;
	const all = (b.busy - a.busy) / TICKS_PER_SECOND / seconds;
	return { ours, others: Math.max(0, all - ours) };
}

/** CPU ticks of this process's descendants whose command name is `comm` (e.g. "workerd"); `kernel` counts system time only. */
export function descendantTicks(comm: string, kernel = false): number {
	try {
		const stats = new Map<number, { ppid: number; ticks: number; comm: string }>();
		for (const pid of readdirSync("/proc")) {
			if (!/^\d+$/.test(pid)) continue;
			try {
				const text = readFileSync(`/proc/${pid}/stat`, "utf8");
				const name = text.slice(text.indexOf("(") + 1, text.lastIndexOf(")"));
				const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
				const ticks = kernel ? Number(fields[12]) : Number(fields[11]) + Number(fields[12]);
				stats.set(Number(pid), { ppid: Number(fields[1]), ticks, comm: name });
			} catch {
				// exited while listing
			}
		}
		let total = 0;
		for (const [pid, s] of stats) {
			if (s.comm !== comm) continue;
			for (let p: number | undefined = pid; p !== undefined && p > 1; p = stats.get(p)?.ppid) {
				if (p === process.pid) {
					total += s.ticks;
					break;
				}
			}
		}
		return total;
	} catch {
		return Number.NaN;
	}
}

export const TICK_MS = 1000 / TICKS_PER_SECOND;

/** Pids of the workerd processes this process started. */
export function childWorkerds(): number[] {
	const pids: number[] = [];
	try {
		for (const pid of readdirSync("/proc")) {
			if (!/^\d+$/.test(pid)) continue;
			try {
				const text = readFileSync(`/proc/${pid}/stat`, "utf8");
				if (text.slice(text.indexOf("(") + 1, text.lastIndexOf(")")) !== "workerd") continue;
				const ppid = Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[1]);
				if (ppid === process.pid) pids.push(Number(pid));
			} catch {
				// exited while listing
			}
		}
	} catch {
		// no /proc
	}
	return pids.sort((a, b) => a - b);
}

/** The same as a string: a change means the runtime was restarted. */
export function workerdPids(): string {
	return childWorkerds().join(",");
}

/** CPU ticks (user + system) one process has used so far. */
export function processTicks(pid: number): number {
	return procStat(String(pid))?.ticks ?? Number.NaN;
}

/**
 * How long after a run its deferred work has landed: the leases' batch syncs and idle close
 * (LEASE_IDLE_MS, 2 s as deployed) and the meters' flush to D1.
 */
export const DEFERRED_WORK_MS = METER_FLUSH_DELAY_MS + 2_000 + 1_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Ticks of idle counted over this window (a tick is 10 ms, so a longer window is steadier). */
const IDLE_WINDOW_MS = 5_000;

/**
 * Ticks per millisecond `ticks` counts while nothing is sent, once earlier work has landed;
 * measured over IDLE_WINDOW_MS, since it is subtracted over each run and its pause.
 */
export async function idleTicksPerMs(ticks: () => number, settleMs = DEFERRED_WORK_MS): Promise<number> {
	await sleep(settleMs);
	const start = ticks();
	await sleep(IDLE_WINDOW_MS);
	return (ticks() - start) / IDLE_WINDOW_MS;
}

/** A CPU tick counter and its idle rate (idleTicksPerMs). */
export interface TickCounter {
	ticks: () => number;
	idlePerMs: number;
}

/**
 * CPU ms per request of `run` (`requests` requests) as each counter counts it, deferred work
 * included (waited out for `settleMs` after the run), less its idle rate over the same time.
 */
export async function cpuPerRequest(
	counters: TickCounter[],
	requests: number,
	run: () => Promise<unknown>,
	settleMs = DEFERRED_WORK_MS,
): Promise<number[]> {
	const before = counters.map((c) => c.ticks());
	const t0 = performance.now();
	await run();
	await sleep(settleMs);
	const elapsed = performance.now() - t0;
	return counters.map((c, i) => ((c.ticks() - (before[i] ?? 0) - c.idlePerMs * elapsed) * TICK_MS) / requests);
}

/** The middle value (the upper one of an even count); NaN for none. */
export function median(xs: number[]): number {
	return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
}
