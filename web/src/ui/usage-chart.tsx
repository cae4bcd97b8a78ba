import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { HourPoint } from "../data/api.ts";
import { formatCount } from "../format.ts";

// The last 24 hours from the hourly rollups: requests as bars, tokens as a line on
// its own axis. Fees are money and stay out of the plot (it would need floats);
// the page shows their exact total next to it.

const hourLabel = (unixSeconds: number) =>
	new Date(unixSeconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
const hourTick = (unixSeconds: number) => new Date(unixSeconds * 1000).toLocaleTimeString([], { hour: "numeric" });

export function UsageChart({ points }: { points: HourPoint[] }) {
	const box = useRef<HTMLDivElement>(null);
	const plot = useRef<uPlot | null>(null);
	const pointsRef = useRef(points);
	pointsRef.current = points;
	// Colours come from the page's CSS variables: redraw when the colour scheme changes.
	const [scheme, setScheme] = useState(0);
	useEffect(() => {
		const query = matchMedia("(prefers-color-scheme: dark)");
		const onChange = () => setScheme((n) => n + 1);
		query.addEventListener("change", onChange);
		return () => query.removeEventListener("change", onChange);
	}, []);

	useEffect(() => {
		const el = box.current;
		if (!el) return;
		const styles = getComputedStyle(el);
		const accent = styles.getPropertyValue("--accent").trim() || "#4f46e5";
		const second = styles.getPropertyValue("--accent-2").trim() || "#0d9488";
		const ink = styles.getPropertyValue("--muted").trim() || "#666";
		const grid = styles.getPropertyValue("--line").trim() || "#ddd";
		const axis = { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
		const options: uPlot.Options = {
			width: el.clientWidth,
			height: 220,
			padding: [8, 0, 0, 0],
			cursor: { drag: { x: false, y: false } },
			legend: { live: true },
			scales: { x: { time: true }, tokens: { range: (_u, _min, max) => [0, Math.max(10, max * 1.1)] } },
			axes: [
				{ ...axis, space: 56, values: (_u, ticks) => ticks.map(hourTick) },
				{
					...axis,
					label: "requests",
					size: 56,
					values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? formatCount(t) : "")),
				},
				{
					...axis,
					scale: "tokens",
					side: 1,
					label: "tokens",
					size: 64,
					grid: { show: false },
					values: (_u, t) => t.map(compact),
				},
			],
			series: [
				{ label: "Hour", value: (_u, v) => (v == null ? "—" : hourLabel(v)) },
				{
					label: "Requests",
					stroke: accent,
					fill: `${accent}55`,
					paths: uPlot.paths.bars?.({ size: [0.7, 40] }),
					points: { show: false },
					value: (_u, v) => (v == null ? "—" : formatCount(v)),
				},
				{
					label: "Tokens",
					scale: "tokens",
					stroke: second,
					width: 2,
					points: { show: false },
					value: (_u, v) => (v == null ? "—" : formatCount(v)),
				},
			],
		};
		plot.current = new uPlot(options, toData(pointsRef.current), el);
		const resize = new ResizeObserver(() => plot.current?.setSize({ width: el.clientWidth, height: 220 }));
		resize.observe(el);
		return () => {
			resize.disconnect();
			plot.current?.destroy();
			plot.current = null;
		};
	}, [scheme]);

	useEffect(() => {
		plot.current?.setData(toData(points));
	}, [points]);

	const total = points.reduce((n, p) => n + p.requests, 0);
	return (
		<figure class="chart">
			<div
				ref={box}
				role="img"
				aria-label={`Requests per hour over the last ${points.length} hours: ${formatCount(total)} in all`}
			/>
		</figure>
	);
}

function toData(points: HourPoint[]): uPlot.AlignedData {
	return [points.map((p) => p.hour), points.map((p) => p.requests), points.map((p) => p.prompt_tokens + p.completion_tokens)];
}

function compact(n: number): string {
	if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(1)}M`;
	if (n >= 1_000) return `${(n / 1_000).toFixed(1)}k`;
	return Number.isInteger(n) ? String(n) : "";
}
