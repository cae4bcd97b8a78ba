import { useEffect, useState } from "preact/hooks";

// Three kinds of page, addressed by path so links can be shared; the Worker answers
// any non-API path with index.html (wrangler.toml: single-page-application).
export type Route = { page: "models" } | { page: "model"; id: string } | { page: "wallet" } | { page: "missing"; path: string };

export function parseRoute(path: string): Route {
	if (path === "/" || path === "/models" || path === "/models/") return { page: "models" };
	if (path === "/wallet") return { page: "wallet" };
	const model = /^\/models\/(.+?)\/?$/.exec(path);
	if (model?.[1]) {
		try {
			return { page: "model", id: model[1].split("/").map(decodeURIComponent).join("/") };
		} catch {
			// Not valid percent-encoding (a "%" cut off a pasted link): no model is named so.
		}
	}
	return { page: "missing", path };
}

export const modelHref = (id: string) => `/models/${id.split("/").map(encodeURIComponent).join("/")}`;

export function navigate(href: string): void {
	if (href === location.pathname + location.search) return;
	history.pushState(null, "", href);
	dispatchEvent(new PopStateEvent("popstate"));
	scrollTo(0, 0);
}

export function useRoute(): Route {
	const [route, setRoute] = useState(() => parseRoute(location.pathname));
	useEffect(() => {
		const onPop = () => setRoute(parseRoute(location.pathname));
		addEventListener("popstate", onPop);
		// Same-origin links navigate in place; modified clicks (new tab) keep the browser's behaviour.
		const onClick = (event: MouseEvent) => {
			if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey)
				return;
			const anchor = (event.target as Element | null)?.closest?.("a");
			if (!anchor || anchor.target || anchor.origin !== location.origin || anchor.hasAttribute("download")) return;
			if (!/^\/($|models|wallet)/.test(anchor.pathname)) return;
			event.preventDefault();
			navigate(anchor.pathname + anchor.search);
		};
		document.addEventListener("click", onClick);
		return () => {
			removeEventListener("popstate", onPop);
			document.removeEventListener("click", onClick);
		};
	}, []);
	return route;
}
