import { render } from "preact";
import { App } from "./app.tsx";
import "./styles.css";
import { restoreWallet } from "./data/wallet.ts";

void restoreWallet();
const root = document.getElementById("app");
if (root) render(<App />, root);
