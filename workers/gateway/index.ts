import { newApp } from "./app.ts";
import { registerInferenceRoutes } from "./routes/inference.ts";

export { AccountLedger } from "../../durable-objects/account-ledger.ts";
export { ModelMeter } from "../../durable-objects/model-meter.ts";

const app = newApp();
registerInferenceRoutes(app);

export default app;
