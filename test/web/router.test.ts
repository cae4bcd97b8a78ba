import { describe, expect, it } from "vitest";
import { modelHref, parseRoute } from "../../web/src/router.ts";

// The page a path opens; the app reads it once when it starts, so it must never throw.

describe("parseRoute", () => {
	it("opens a model page for an id with a slash, raw or encoded, and back to the same href", () => {
		expect(parseRoute("/models/acme/chat-8b")).toEqual({ page: "model", id: "acme/chat-8b" });
		expect(parseRoute("/models/acme%2Fchat-8b")).toEqual({ page: "model", id: "acme/chat-8b" });
		expect(parseRoute(modelHref("acme/chat 8b?#"))).toEqual({ page: "model", id: "acme/chat 8b?#" });
	});

	it("a path that is not valid percent-encoding (a mangled link) is a page not found, not a blank app", () => {
		for (const path of ["/models/acme/chat%", "/models/acme/%E0%A4%A", "/models/acme/100%off"]) {
			expect(parseRoute(path), path).toEqual({ page: "missing", path });
		}
	});
});
