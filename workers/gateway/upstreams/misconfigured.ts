/**
 * An upstream the gateway cannot call as configured (no URL, a secret or binding that is
 * missing): that upstream's failure, so the next one is tried, not the client's error.
 * Its message completes "the upstream is not configured correctly (…)".
 */
export class UpstreamMisconfigured extends Error {}
