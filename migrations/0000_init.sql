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
CREATE TABLE `siwe_nonces` (
	`nonce` text PRIMARY KEY NOT NULL,
	`expires_at` integer NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE INDEX `siwe_nonces_expires` ON `siwe_nonces` (`expires_at`);--> statement-breakpoint
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
CREATE INDEX `usage_hourly_model_hour` ON `usage_hourly` (`model_id`,`hour`);