/** Resolves after `ms` (at once for 0 or less): the one timer-wait the Workers and objects share. */
export function sleep(ms: number): Promise<void> {
	return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}
