// Embeddings in the encoding the client asked for. OpenAI's API answers
// `encoding_format: "base64"` with each vector as the base64 of its little-endian float32
// bytes (the official SDKs ask for it by default and decode it); Workers AI, the stand-in
// and some open-model servers ignore the field and always answer with arrays of numbers.

/**
 * Rewrites, in place, the number arrays of an embeddings answer as base64 when the client
 * asked for base64; true when anything changed (the answer must then be serialized again).
 */
export function encodeEmbeddingsAsAsked(answer: Record<string, unknown>, format: "float" | "base64" | undefined): boolean {
	if (format !== "base64" || !Array.isArray(answer.data)) return false;
	let changed = false;
	for (const item of answer.data) {
		if (typeof item !== "object" || item === null) continue;
		const entry = item as { embedding?: unknown };
		if (!Array.isArray(entry.embedding) || !entry.embedding.every((v) => typeof v === "number")) continue;
		entry.embedding = float32Base64(entry.embedding);
		changed = true;
	}
	return changed;
}

function float32Base64(values: number[]): string {
	const view = new DataView(new ArrayBuffer(values.length * 4));
	for (const [i, v] of values.entries()) view.setFloat32(i * 4, v, true);
	const bytes = new Uint8Array(view.buffer);
	let binary = "";
	// In slices: String.fromCharCode takes its arguments on the stack.
	for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
	return btoa(binary);
}
