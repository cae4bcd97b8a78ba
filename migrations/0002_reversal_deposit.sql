ALTER TABLE `credit_reversals` ADD `tx_hash` text;--> statement-breakpoint
ALTER TABLE `credit_reversals` ADD `log_index` integer;--> statement-breakpoint
ALTER TABLE `credit_reversals` ADD `block_number` integer;--> statement-breakpoint
ALTER TABLE `credit_reversals` ADD `sender` text;