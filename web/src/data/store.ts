import { useEffect, useState } from "preact/hooks";

/** A module-level value the pages subscribe to: read it, replace it, or follow it in a component. */
export interface Store<T> {
	get(): T;
	set(next: T): void;
	/** The current value, re-rendering the component when it changes. */
	use(): T;
}

export function store<T>(initial: T): Store<T> {
	let value = initial;
	const listeners = new Set<(v: T) => void>();
	return {
		get: () => value,
		set(next) {
			value = next;
			for (const listener of listeners) listener(value);
		},
		use() {
			const [current, setCurrent] = useState(value);
			useEffect(() => {
				listeners.add(setCurrent);
				setCurrent(value);
				return () => {
					listeners.delete(setCurrent);
				};
			}, []);
			return current;
		},
	};
}
