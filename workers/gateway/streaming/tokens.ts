// Token counting for when an upstream reports no usage (or the stream stops early and
// only what reached the client may be charged). cl100k_base rather than o200k_base:
// it adds about 460 KiB gzip to the Worker against about 1.1 MiB, and a fallback
// estimate does not need the newest vocabulary.
//
// Loaded on first use, not with the Worker: the vocabulary is a module of 100,000 string
// literals. Evaluated at startup, it cost every isolate 4.5 MiB of heap (11.46 MiB held after
// the warm-up, 6.91 without it: bench/profile.ts, BENCH_PROFILE_KIND=snapshot) and ~23 ms of
// its start (bench/startup.ts), and most isolates never count a token: the usual upstream
// reports its usage. The bundlers (wrangler's esbuild, Vite in the tests) keep a dynamic
// import's module out of the startup path.

type Counter = (text: string) => number;

// Text from clients and models may contain "<|endoftext|>" and friends; by default the
// tokenizer throws on them. Here they are plain text, counted like any other.
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

let loading: Promise<Counter> | null = null;

/** The counter, once the tokenizer is loaded (the first call loads it; a failed load is tried again next time). */
export function tokenCounter(): Promise<Counter> {
	loading ??= import("gpt-tokenizer/encoding/cl100k_base").then(
		({ countTokens }): Counter =>
			(text) =>
				text.length === 0 ? 0 : countTokens(text, PLAIN_TEXT),
		(err) => {
			loading = null;
			throw err;
		},
	);
	return loading;
}

/** The text's tokens; never fails: if the tokenizer cannot load or count, `estimateTokens`. */
export async function countTokens(text: string): Promise<number> {
	if (text.length === 0) return 0;
	try {
		return (await tokenCounter())(text);
	} catch {
		return estimateTokens(text);
	}
}

/** The usual ~4 characters per token, for when the tokenizer fails (it should not). */
function estimateTokens(text: string): number {
	return Math.ceil(text.length / 4);
}
