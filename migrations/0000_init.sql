CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`key_hash` text NOT NULL,
	`prefix` text NOT NULL,
	`payer` text NOT NULL,
	`name` text DEFAULT '' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_key_hash_unique` ON `api_keys` (`key_hash`);--> statement-breakpoint
CREATE INDEX `api_keys_payer` ON `api_keys` (`payer`);--> statement-breakpoint
CREATE TABLE `chain_blocks` (
	`chain_id` integer NOT NULL,
	`number` integer NOT NULL,
	`hash` text NOT NULL,
	PRIMARY KEY(`chain_id`, `number`)
);
--> statement-breakpoint
CREATE TABLE `chain_cursor` (
	`chain_id` integer PRIMARY KEY NOT NULL,
	`last_block` integer NOT NULL,
	`last_hash` text NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `chain_events` (
	`chain_id` integer NOT NULL,
	`tx_hash` text NOT NULL,
	`log_index` integer NOT NULL,
	`block_number` integer NOT NULL,
	`block_hash` text NOT NULL,
	`address` text NOT NULL,
	`name` text NOT NULL,
	`args` text NOT NULL,
	PRIMARY KEY(`chain_id`, `tx_hash`, `log_index`)
);
--> statement-breakpoint
CREATE INDEX `chain_events_block` ON `chain_events` (`chain_id`,`block_number`);--> statement-breakpoint
CREATE INDEX `chain_events_address_name` ON `chain_events` (`chain_id`,`address`,`name`,`block_number`);--> statement-breakpoint
CREATE TABLE `claims` (
	`chain_id` integer NOT NULL,
	`tx_hash` text NOT NULL,
	`log_index` integer NOT NULL,
	`block_number` integer NOT NULL,
	`block_hash` text NOT NULL,
	`token` text NOT NULL,
	`account` text NOT NULL,
	`amount` text NOT NULL,
	PRIMARY KEY(`chain_id`, `tx_hash`, `log_index`)
);
--> statement-breakpoint
CREATE INDEX `claims_account` ON `claims` (`account`);--> statement-breakpoint
CREATE TABLE `credit_reversals` (
	`credit_id` text PRIMARY KEY NOT NULL,
	`chain_id` integer NOT NULL,
	`payer` text NOT NULL,
	`amount` text NOT NULL,
	`reversed` text NOT NULL,
	`shortfall` text NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `deposits` (
	`chain_id` integer NOT NULL,
	`tx_hash` text NOT NULL,
	`log_index` integer NOT NULL,
	`block_number` integer NOT NULL,
	`block_hash` text NOT NULL,
	`payer` text NOT NULL,
	`sender` text NOT NULL,
	`amount` text NOT NULL,
	`credit_id` text NOT NULL,
	`credited_at` integer,
	PRIMARY KEY(`chain_id`, `tx_hash`, `log_index`)
);
--> statement-breakpoint
CREATE INDEX `deposits_payer` ON `deposits` (`payer`,`block_number`);--> statement-breakpoint
CREATE INDEX `deposits_uncredited` ON `deposits` (`chain_id`,`credited_at`);--> statement-breakpoint
CREATE TABLE `holders` (
	`token` text NOT NULL,
	`account` text NOT NULL,
	`balance` text NOT NULL,
	`balance_key` text NOT NULL,
	PRIMARY KEY(`token`, `account`)
);
--> statement-breakpoint
CREATE INDEX `holders_top` ON `holders` (`token`,`balance_key`);--> statement-breakpoint
CREATE TABLE `job_leases` (
	`name` text PRIMARY KEY NOT NULL,
	`holder` text NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `model_fee_totals` (
	`model_id` text PRIMARY KEY NOT NULL,
	`token` text NOT NULL,
	`cumulative_fees` text NOT NULL,
	`through_epoch` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `model_markets` (
	`token` text PRIMARY KEY NOT NULL,
	`chain_id` integer NOT NULL,
	`model_id` text NOT NULL,
	`sale` text NOT NULL,
	`creator` text NOT NULL,
	`pair` text NOT NULL,
	`symbol` text NOT NULL,
	`name` text NOT NULL,
	`metadata_uri` text NOT NULL,
	`status` text NOT NULL,
	`total_supply` text NOT NULL,
	`graduation_threshold` text NOT NULL,
	`initial_virtual_paca` text NOT NULL,
	`initial_virtual_token` text NOT NULL,
	`virtual_paca` text NOT NULL,
	`virtual_token` text NOT NULL,
	`raised` text NOT NULL,
	`price` text NOT NULL,
	`input_price_per_m` text NOT NULL,
	`output_price_per_m` text NOT NULL,
	`revenue_settled` text NOT NULL,
	`holders` integer NOT NULL,
	`tokenized_block` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `model_markets_model` ON `model_markets` (`model_id`);--> statement-breakpoint
CREATE TABLE `model_settlements` (
	`chain_id` integer NOT NULL,
	`tx_hash` text NOT NULL,
	`log_index` integer NOT NULL,
	`block_number` integer NOT NULL,
	`block_hash` text NOT NULL,
	`epoch` integer NOT NULL,
	`token` text NOT NULL,
	`cumulative_fees` text NOT NULL,
	`fees` text NOT NULL,
	PRIMARY KEY(`chain_id`, `tx_hash`, `log_index`)
);
--> statement-breakpoint
CREATE INDEX `model_settlements_token` ON `model_settlements` (`token`,`epoch`);--> statement-breakpoint
CREATE TABLE `model_upstreams` (
	`model_id` text NOT NULL,
	`position` integer NOT NULL,
	`kind` text NOT NULL,
	`base_url` text,
	`upstream_model` text,
	`api_key_secret` text,
	PRIMARY KEY(`model_id`, `position`),
	FOREIGN KEY (`model_id`) REFERENCES `models`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `models` (
	`id` text PRIMARY KEY NOT NULL,
	`display_name` text NOT NULL,
	`hf_repo` text,
	`hf_revision` text,
	`token_address` text,
	`input_price_per_m` text NOT NULL,
	`output_price_per_m` text NOT NULL,
	`max_output_tokens` integer DEFAULT 4096 NOT NULL,
	`enabled` integer DEFAULT true NOT NULL,
	`imo_status` text DEFAULT 'none' NOT NULL,
	`sale_address` text,
	`pool_address` text,
	`imo_raised` text,
	`imo_threshold` text,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `settlements` (
	`chain_id` integer NOT NULL,
	`tx_hash` text NOT NULL,
	`log_index` integer NOT NULL,
	`block_number` integer NOT NULL,
	`block_hash` text NOT NULL,
	`epoch` integer NOT NULL,
	`usage_root` text NOT NULL,
	`model_count` integer NOT NULL,
	`total_fees` text NOT NULL,
	`protocol_fee_bps` integer NOT NULL,
	`creator_fee_bps` integer NOT NULL,
	PRIMARY KEY(`chain_id`, `tx_hash`, `log_index`)
);
--> statement-breakpoint
CREATE INDEX `settlements_epoch` ON `settlements` (`chain_id`,`epoch`);--> statement-breakpoint
CREATE TABLE `settler_epochs` (
	`chain_id` integer NOT NULL,
	`epoch` integer PRIMARY KEY NOT NULL,
	`start_ms` integer NOT NULL,
	`end_ms` integer NOT NULL,
	`state` text NOT NULL,
	`usage_root` text NOT NULL,
	`models` text NOT NULL,
	`skipped` text NOT NULL,
	`nonce` integer,
	`tx_hashes` text DEFAULT '[]' NOT NULL,
	`max_fee_per_gas` text,
	`max_priority_fee_per_gas` text,
	`raw_tx` text,
	`sent_at` integer,
	`confirmed_tx` text,
	`confirmed_block` integer,
	`gas_used` integer,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `siwe_nonces` (
	`nonce` text PRIMARY KEY NOT NULL,
	`expires_at` integer NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE INDEX `siwe_nonces_expires` ON `siwe_nonces` (`expires_at`);--> statement-breakpoint
CREATE TABLE `token_transfers` (
	`chain_id` integer NOT NULL,
	`tx_hash` text NOT NULL,
	`log_index` integer NOT NULL,
	`block_number` integer NOT NULL,
	`block_hash` text NOT NULL,
	`token` text NOT NULL,
	`from_address` text NOT NULL,
	`to_address` text NOT NULL,
	`value` text NOT NULL,
	PRIMARY KEY(`chain_id`, `tx_hash`, `log_index`)
);
--> statement-breakpoint
CREATE INDEX `token_transfers_from` ON `token_transfers` (`token`,`from_address`);--> statement-breakpoint
CREATE INDEX `token_transfers_to` ON `token_transfers` (`token`,`to_address`);--> statement-breakpoint
CREATE TABLE `trades` (
	`chain_id` integer NOT NULL,
	`tx_hash` text NOT NULL,
	`log_index` integer NOT NULL,
	`block_number` integer NOT NULL,
	`block_hash` text NOT NULL,
	`token` text NOT NULL,
	`sale` text NOT NULL,
	`trader` text NOT NULL,
	`recipient` text NOT NULL,
	`is_buy` integer NOT NULL,
	`paca_amount` text NOT NULL,
	`token_amount` text NOT NULL,
	`fee` text NOT NULL,
	`virtual_paca` text NOT NULL,
	`virtual_token` text NOT NULL,
	PRIMARY KEY(`chain_id`, `tx_hash`, `log_index`)
);
--> statement-breakpoint
CREATE INDEX `trades_token_block` ON `trades` (`token`,`block_number`);--> statement-breakpoint
CREATE TABLE `usage` (
	`request_id` text PRIMARY KEY NOT NULL,
	`key_id` text NOT NULL,
	`payer` text NOT NULL,
	`model_id` text NOT NULL,
	`prompt_tokens` integer NOT NULL,
	`completion_tokens` integer NOT NULL,
	`fee` text NOT NULL,
	`status` text NOT NULL,
	`usage_source` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `usage_model_time` ON `usage` (`model_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `usage_payer_time` ON `usage` (`payer`,`created_at`);--> statement-breakpoint
CREATE TABLE `usage_epochs` (
	`request_id` text PRIMARY KEY NOT NULL,
	`epoch` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `usage_epochs_epoch` ON `usage_epochs` (`epoch`);--> statement-breakpoint
CREATE TABLE `usage_hourly` (
	`model_id` text NOT NULL,
	`payer` text NOT NULL,
	`hour` integer NOT NULL,
	`requests` integer NOT NULL,
	`errors` integer NOT NULL,
	`prompt_tokens` integer NOT NULL,
	`completion_tokens` integer NOT NULL,
	`fees` text NOT NULL,
	PRIMARY KEY(`model_id`, `payer`, `hour`)
);
--> statement-breakpoint
CREATE INDEX `usage_hourly_model_hour` ON `usage_hourly` (`model_id`,`hour`);--> statement-breakpoint
CREATE TABLE `usage_leaves` (
	`epoch` integer NOT NULL,
	`payer` text NOT NULL,
	`token` text NOT NULL,
	`model_id` text NOT NULL,
	`input_tokens` integer NOT NULL,
	`output_tokens` integer NOT NULL,
	`fee` text NOT NULL,
	PRIMARY KEY(`epoch`, `payer`, `token`)
);
--> statement-breakpoint
CREATE INDEX `usage_leaves_payer` ON `usage_leaves` (`payer`,`epoch`);--> statement-breakpoint
CREATE TABLE `withdrawal_payments` (
	`chain_id` integer NOT NULL,
	`tx_hash` text NOT NULL,
	`log_index` integer NOT NULL,
	`block_number` integer NOT NULL,
	`block_hash` text NOT NULL,
	`withdrawal_id` text NOT NULL,
	`payer` text NOT NULL,
	`amount` text NOT NULL,
	PRIMARY KEY(`chain_id`, `tx_hash`, `log_index`)
);
--> statement-breakpoint
CREATE INDEX `withdrawal_payments_id` ON `withdrawal_payments` (`withdrawal_id`);--> statement-breakpoint
CREATE TABLE `withdrawals` (
	`id` text PRIMARY KEY NOT NULL,
	`payer` text NOT NULL,
	`amount` text NOT NULL,
	`state` text NOT NULL,
	`nonce` integer,
	`tx_hash` text,
	`max_fee_per_gas` text,
	`max_priority_fee_per_gas` text,
	`sent_at` integer,
	`requested_at` integer NOT NULL,
	`paid_at` integer
);
--> statement-breakpoint
CREATE INDEX `withdrawals_state` ON `withdrawals` (`state`,`requested_at`);--> statement-breakpoint
CREATE INDEX `withdrawals_payer` ON `withdrawals` (`payer`);