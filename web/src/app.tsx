import { useEffect } from "preact/hooks";
import { useWallet } from "./data/wallet.ts";
import { shortAddress } from "./format.ts";
import { ModelPage } from "./pages/model.tsx";
import { ModelsPage } from "./pages/models.tsx";
import { type Route, useRoute } from "./router.ts";
import { lazyComponent } from "./ui/lazy.tsx";
import { NetworkBanner } from "./ui/network-banner.tsx";

const WalletPage = lazyComponent(() => import("./pages/wallet.tsx").then((m) => m.WalletPage));

const TITLES: Record<Route["page"], string> = { models: "Models", model: "Model", wallet: "Wallet", missing: "Not found" };

export function App() {
	const route = useRoute();
	const wallet = useWallet();
	useEffect(() => {
		document.title = `${route.page === "model" ? route.id : TITLES[route.page]} · Modeldex`;
		// Move focus to the new page's heading so keyboard and screen-reader users land on it.
		document.querySelector<HTMLElement>("main h1")?.focus({ preventScroll: true });
	}, [route]);
	return (
		<>
			<a class="skip" href="#main">
				Skip to content
			</a>
			<header class="top">
				<a class="brand" href="/">
					<img src="/favicon.svg" alt="" width="24" height="24" /> Modeldex
				</a>
				<nav aria-label="Main">
					<a href="/" aria-current={route.page === "models" || route.page === "model" ? "page" : undefined}>
						Models
					</a>
					<a href="/wallet" aria-current={route.page === "wallet" ? "page" : undefined}>
						Wallet{wallet.address ? ` · ${shortAddress(wallet.address)}` : ""}
					</a>
					<a href="/docs">API</a>
				</nav>
			</header>
			<main id="main">
				<NetworkBanner />
				{route.page === "models" && <ModelsPage />}
				{/* Keyed by id: one model's data, trade panel and live feed never show under another's address. */}
				{route.page === "model" && <ModelPage key={route.id} id={route.id} />}
				{route.page === "wallet" && <WalletPage />}
				{route.page === "missing" && (
					<>
						<h1 tabIndex={-1}>Page not found</h1>
						<p>
							Nothing lives at <code>{route.path}</code>. <a href="/">See all models</a>.
						</p>
					</>
				)}
			</main>
		</>
	);
}
