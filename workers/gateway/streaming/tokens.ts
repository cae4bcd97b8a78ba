// Token counting for when an upstream reports no usage (or the stream stops early and
// only what reached the client may be charged). cl100k_base rather than o200k_base:
// it adds about 460 KiB gzip to the Worker against about 1.1 MiB, and a fallback
// estimate does not need the newest vocabulary.
//
// Loaded on first use, not with the Worker: the vocabulary is a module of 100,000 string
// literals, and evaluating it at startup made it half of the isolate's heap (11.5 of
// 11.5 MiB held after a full collection went to 6.0 without it: bench/profile.ts,
// BENCH_PROFILE_KIND=snapshot). A heap that size is what every full collection marks,
// and most isolates never count a token: the usual upstream reports its usage. The
// bundlers (wrangler's esbuild, Vite in the tests) keep a dynamic import's module out of
// the startup path.

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
export function estimateTokens(text: string): number {
	return Math.ceil(text.length / 4);
}
