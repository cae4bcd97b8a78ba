// Reading logs from providers that cap eth_getLogs: shared by the indexer and the settler.

/**
 * How providers refuse a getLogs query too large for them: too many results (Infura "query
 * returned more than 10000 results", Alchemy "Log response size exceeded") or too many blocks
 * ("block range is too wide", "exceed maximum block range", QuickNode "limited to a 10,000 range").
 */
const TOO_LARGE =
	/more than [\d,]+ results|response size|too many (results|logs)|block range|range (is )?too (large|wide|big)|limited to (a )?[\d,]+ (block )?range/i;

/** Whether `error` is a provider refusing a getLogs query as too large (so a smaller range may pass). */
export function isTooLarge(error: unknown): boolean {
	return TOO_LARGE.test(error instanceof Error ? error.message : String(error));
}

/** `read(from, to)` over [from, to]; a range the provider refuses as too large is halved, down to one block. */
export async function inAcceptedRanges<T>(
	from: bigint,
	to: bigint,
	read: (from: bigint, to: bigint) => Promise<T[]>,
): Promise<T[]> {
	try {
		return await read(from, to);
	} catch (error) {
		if (from >= to || !isTooLarge(error)) throw error;
		const mid = from + (to - from) / 2n;
		return [...(await inAcceptedRanges(from, mid, read)), ...(await inAcceptedRanges(mid + 1n, to, read))];
	}
}
