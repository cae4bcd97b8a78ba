import { newApp } from "./app.ts";
import { registerAccountRoutes } from "./routes/account.ts";
import { registerAdminRoutes } from "./routes/admin.ts";
import { registerChainRoutes } from "./routes/chain.ts";
import { registerDocsRoutes } from "./routes/docs.ts";
import { registerGenerationRoutes } from "./routes/generations.ts";
import { registerInferenceRoutes } from "./routes/inference.ts";
import { registerJobRoutes } from "./routes/jobs.ts";
import { registerModelRoutes } from "./routes/models.ts";
import { documentUsageChartRoute } from "./routes/usage-chart.ts";

export { AccountLedger } from "../../durable-objects/account-ledger.ts";
export { ModelMeter } from "../../durable-objects/model-meter.ts";
export { Ledgers } from "./ledgers.ts";

const app = newApp();
registerInferenceRoutes(app);
registerAccountRoutes(app);
registerAdminRoutes(app);
registerJobRoutes(app);
documentUsageChartRoute(app); // served by registerModelRoutes's /v1/models/*
registerModelRoutes(app);
registerGenerationRoutes(app);
registerChainRoutes(app);
registerDocsRoutes(app);

export default app;
