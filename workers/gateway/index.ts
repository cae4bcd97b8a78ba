import { newApp } from "./app.ts";
import { registerChatRoutes } from "./routes/chat.ts";

export { ModelMeter } from "../../durable-objects/model-meter.ts";

const app = newApp();
registerChatRoutes(app);

export default app;
