import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { formatAmount, formatExact, progress } from "../format.ts";

export function ErrorNote({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
	if (!error) return null;
	const message = error instanceof Error ? error.message : String(error);
	return (
		<p class="note error" role="alert">
			{message}
			{onRetry && (
				<button type="button" class="link" onClick={onRetry}>
					Try again
				</button>
			)}
		</p>
	);
}

/** What a finished action did, announced politely; nothing while there is no message. */
export function DoneNote({ message }: { message: ComponentChildren }) {
	if (!message) return null;
	return (
		<p class="note ok" role="status">
			{message}
		</p>
	);
}

/** A PACA amount, rounded for reading, with every digit in its tooltip. */
export function Paca({ value, unit = true }: { value: bigint | string; unit?: boolean }) {
	return (
		<span class="amount" title={`${formatExact(value)} PACA`}>
			{formatAmount(value)}
			{unit && <span class="unit"> PACA</span>}
		</span>
	);
}

export function Progress({ raised, threshold }: { raised: bigint; threshold: bigint }) {
	const { tenths, text } = progress(raised, threshold);
	return (
		<div class="progress">
			<div
				class="bar"
				role="progressbar"
				aria-valuemin={0}
				aria-valuemax={100}
				aria-valuenow={tenths / 10}
				aria-valuetext={`${text}% of the Singularity threshold raised`}
				aria-label="IMO progress toward Singularity"
			>
				<span class="progress-fill" style={{ width: `${tenths / 10}%` }} />
			</div>
			<small>
				{text}% · <Paca value={raised} unit={false} /> / <Paca value={threshold} />
			</small>
		</div>
	);
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
	const [copied, setCopied] = useState<"idle" | "done" | "failed">("idle");
	const copy = async () => {
		try {
			await navigator.clipboard.writeText(text);
			setCopied("done");
		} catch {
			setCopied("failed");
		}
		setTimeout(() => setCopied("idle"), 2000);
	};
	return (
		<button type="button" class="small" onClick={copy} aria-live="polite">
			{copied === "done" ? "Copied" : copied === "failed" ? "Select and copy" : label}
		</button>
	);
}

export function Card({
	title,
	children,
	actions,
	id,
}: {
	title: string;
	children: ComponentChildren;
	actions?: ComponentChildren;
	id?: string;
}) {
	return (
		<section class="card" aria-labelledby={id ? `${id}-title` : undefined} id={id}>
			<header>
				<h2 id={id ? `${id}-title` : undefined}>{title}</h2>
				{actions}
			</header>
			{children}
		</section>
	);
}

export function Unavailable({ what }: { what: string }) {
	return <p class="muted">{what} will show here once the chain indexer serves it.</p>;
}
