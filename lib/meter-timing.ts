// Shared by the ModelMeter and the Node tools that wait for it (benchmarks, the local stack).

/**
 * A ModelMeter flushes its records to D1 this long after the first of them. Each flush also
 * rewrites every hourly rollup row touched since the last one, so fewer, larger flushes write
 * D1 less; and under `wrangler dev` the flush runs on the gateway's thread (at 1 s it was most
 * of the gateway's c=1 p98 tail in the single-process benchmark of the time: 11.5-11.8 ms
 * against 9.3-10.6 at 5 s). Nothing
 * reads D1 usage sooner: live counters come from the meter, the settler waits its grace.
 */
export const METER_FLUSH_DELAY_MS = 5_000;
