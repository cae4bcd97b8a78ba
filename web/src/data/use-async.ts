import { useCallback, useEffect, useRef, useState } from "preact/hooks";

export interface Async<T> {
	data: T | undefined;
	error: Error | null;
	loading: boolean;
	reload: () => void;
}

/**
 * Loads `load()` when `deps` change; keeps the last data while reloading, so a refresh does
 * not flash. Data loaded for other deps (another account, token or chain) is dropped at once.
 */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[], refreshMs?: number): Async<T> {
	const [state, setState] = useState<{ data: T | undefined; error: Error | null; loading: boolean }>({
		data: undefined,
		error: null,
		loading: true,
	});
	const [round, setRound] = useState(0);
	const reload = useCallback(() => setRound((n) => n + 1), []);
	const loadedFor = useRef<unknown[] | null>(null);
	// The caller's deps decide when `load` changes meaning.
	useEffect(() => {
		let current = true;
		const sameDeps = loadedFor.current?.length === deps.length && deps.every((d, i) => Object.is(d, loadedFor.current?.[i]));
		loadedFor.current = deps;
		setState((s) => (sameDeps ? { ...s, loading: true } : { data: undefined, error: null, loading: true }));
		load().then(
			(data) => current && setState({ data, error: null, loading: false }),
			(error: unknown) =>
				current && setState((s) => ({ ...s, error: error instanceof Error ? error : new Error(String(error)), loading: false })),
		);
		return () => {
			current = false;
		};
	}, [...deps, round]);
	useEffect(() => {
		if (!refreshMs) return;
		const timer = setInterval(reload, refreshMs);
		return () => clearInterval(timer);
	}, [refreshMs, reload]);
	return { ...state, reload };
}
