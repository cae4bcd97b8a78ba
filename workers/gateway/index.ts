import { newApp } from "./app.ts";
import { registerAccountRoutes } from "./routes/account.ts";
import { registerAdminRoutes } from "./routes/admin.ts";
import { registerInferenceRoutes } from "./routes/inference.ts";

export { AccountLedger } from "../../durable-objects/account-ledger.ts";
export { ModelMeter } from "../../durable-objects/model-meter.ts";

const app = newApp();
registerInferenceRoutes(app);
registerAccountRoutes(app);
registerAdminRoutes(app);

export default app;
