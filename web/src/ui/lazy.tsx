import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";

/** A component whose code is fetched the first time it renders (a separate chunk). */
export function lazyComponent<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
	let loaded: ComponentType<P> | null = null;
	return function Lazy(props: P) {
		const [Component, setComponent] = useState<ComponentType<P> | null>(() => loaded);
		const [failed, setFailed] = useState(false);
		useEffect(() => {
			if (Component) return;
			load().then(
				(c) => {
					loaded = c;
					setComponent(() => c);
				},
				() => setFailed(true),
			);
		}, [Component]);
		if (failed) {
			return (
				<p class="note error" role="alert">
					Part of this page could not be loaded. Check your connection and reload.
				</p>
			);
		}
		return Component ? <Component {...props} /> : <p class="muted">Loading…</p>;
	};
}
