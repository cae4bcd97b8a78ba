import { expect, it } from "vitest";
import { meterSseStream } from "../../../workers/gateway/streaming/sse-meter.ts";
import { countTokens } from "../../../workers/gateway/streaming/tokens.ts";

// Alone in its file, so the module is fresh: the tokenizer is not loaded yet when the
// stream ends (it loads on first use), and its load must not let the stream end before
// its charge is known: GET /v1/generations/{id} answers with it once the response ends.

const encoder = new TextEncoder();
const chunk = (content: string) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`;

it("ends a counted stream only once its charge is known, on the tokenizer's first load too", async () => {
	const upstream = new ReadableStream<Uint8Array>({
		start(controller) {
			for (const piece of [chunk("Hello"), chunk(" there"), "data: [DONE]\n\n"]) controller.enqueue(encoder.encode(piece));
			controller.close();
		},
	});
	const { body, result } = meterSseStream(upstream, {
		kind: "chat",
		clientWantsUsage: false,
		promptText: "Greet me",
		abortUpstream: () => {},
	});
	let charged: Awaited<typeof result> | null = null;
	void result.then((r) => {
		charged = r;
	});
	const reader = body.getReader();
	for (;;) if ((await reader.read()).done) break;
	// The client has seen the end: the charge is settled, with the counted tokens.
	expect(charged).toEqual({
		promptTokens: await countTokens("Greet me"),
		completionTokens: await countTokens("Hello there"),
		usageSource: "counted",
		outcome: "completed",
		finishReason: null,
	});
});
