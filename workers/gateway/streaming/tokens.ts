// Token counting for when an upstream reports no usage (or the stream stops early and
// only what reached the client may be charged). cl100k_base rather than o200k_base:
// it adds about 460 KiB gzip to the Worker against about 1.1 MiB, and a fallback
// estimate does not need the newest vocabulary.
import { countTokens as countCl100k } from "gpt-tokenizer/encoding/cl100k_base";

// Text from clients and models may contain "<|endoftext|>" and friends; by default the
// tokenizer throws on them. Here they are plain text, counted like any other.
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

export function countTokens(text: string): number {
	if (text.length === 0) return 0;
	return countCl100k(text, PLAIN_TEXT);
}
