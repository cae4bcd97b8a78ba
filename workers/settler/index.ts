// The settler: on each cron tick it will close finished epochs and post per-model
// fees to RevenueVault (issue 5). Until a chain is configured it only reports
// the usage waiting to be settled.
export default {
	async scheduled(controller, env): Promise<void> {
		const rows = await env.DB.prepare("SELECT count(*) AS n FROM usage").first<{ n: number }>();
		console.log(
			`settler tick at ${new Date(controller.scheduledTime).toISOString()}: ${rows?.n ?? 0} usage rows, no chain configured`,
		);
	},
} satisfies ExportedHandler<SettlerEnv>;
