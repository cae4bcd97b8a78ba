// The indexer: on each cron tick it will read chain logs with viem and turn them
// into D1 rows and payer credits (issue 5). Until a chain is configured it only
// reports that it has nothing to read.
export default {
	async scheduled(controller, env): Promise<void> {
		const rows = await env.DB.prepare("SELECT count(*) AS n FROM models").first<{ n: number }>();
		console.log(
			`indexer tick at ${new Date(controller.scheduledTime).toISOString()}: ${rows?.n ?? 0} models known, no chain configured`,
		);
	},
} satisfies ExportedHandler<IndexerEnv>;
