/** The parts as one array (the part itself when there is only one: no copy). */
export function concat(parts: Uint8Array[]): Uint8Array {
	if (parts.length === 1 && parts[0]) return parts[0];
	let length = 0;
	for (const part of parts) length += part.length;
	const joined = new Uint8Array(length);
	let offset = 0;
	for (const part of parts) {
		joined.set(part, offset);
		offset += part.length;
	}
	return joined;
}
