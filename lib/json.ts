/** JSON.stringify replacer for bigint base units: decimal strings (JSON has no bigint). */
export function jsonBigint(_key: string, value: unknown): unknown {
	return typeof value === "bigint" ? value.toString() : value;
}
