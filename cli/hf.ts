// Hugging Face model metadata: the commit to pin, the license and the pipeline tag.
//
//   GET {endpoint}/api/models/{repo}                    → the default branch's head
//   GET {endpoint}/api/models/{repo}/revision/{rev}     → a branch, tag or commit
//
// Both answer { id, sha, pipeline_tag, cardData: { license }, tags: [..., "license:mit"], private, gated, ... }.
// Offline, `--metadata <file>` takes the same JSON (saved from the API, or written by hand).
import { readFileSync } from "node:fs";
import { CliError, isConnectionError, usageError } from "./errors.ts";

export interface HfModelInfo {
	/** "org/name", as Hugging Face spells it. */
	repo: string;
	/** The full commit sha the revision resolved to (what gets tokenized). */
	sha: string;
	/** What the user asked for ("main", a tag, a sha), or null for the default branch. */
	requestedRevision: string | null;
	license: string | null;
	pipelineTag: string | null;
	gated: boolean;
	source: "huggingface" | "file";
}

const REPO_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;
const SHA_PATTERN = /^[0-9a-f]{40}$/;

/** "org/name@rev" → { repo, revision }. Accepts a full https://huggingface.co/org/name URL too. */
export function parseRepoRef(ref: string): { repo: string; revision: string | null } {
	let text = ref.trim();
	const url = /^https?:\/\/[^/]+\/(.+)$/.exec(text);
	if (url?.[1]) text = url[1].replace(/\/(tree|commit)\/([^/]+).*$/, "@$2").replace(/\/+$/, "");
	const at = text.lastIndexOf("@");
	const repo = at === -1 ? text : text.slice(0, at);
	const revision = at === -1 ? null : text.slice(at + 1);
	if (!REPO_PATTERN.test(repo)) {
		throw usageError(
			`'${ref}' is not a Hugging Face model repo.`,
			"Give it as <org>/<name>[@revision], e.g. meta-llama/Llama-3.1-8B-Instruct@main.",
		);
	}
	if (revision !== null && !/^[A-Za-z0-9._/-]{1,100}$/.test(revision)) {
		throw usageError(
			`'${revision}' is not a revision.`,
			"Give a branch, tag or commit sha after '@', e.g. @main or @0e9e39f2...",
		);
	}
	return { repo, revision };
}

interface HfApiModel {
	id?: unknown;
	modelId?: unknown;
	sha?: unknown;
	pipeline_tag?: unknown;
	cardData?: { license?: unknown } | null;
	tags?: unknown;
	gated?: unknown;
	private?: unknown;
	disabled?: unknown;
}

function licenseOf(body: HfApiModel): string | null {
	const card = body.cardData?.license;
	if (typeof card === "string" && card) return card;
	if (Array.isArray(card) && typeof card[0] === "string") return card.join(", ");
	if (Array.isArray(body.tags)) {
		const tag = body.tags.find((t): t is string => typeof t === "string" && t.startsWith("license:"));
		if (tag) return tag.slice("license:".length);
	}
	return null;
}

/** Normalises an API answer (or a --metadata file with the same shape) to what tokenize needs. */
export function toModelInfo(
	body: HfApiModel,
	wanted: { repo: string; revision: string | null },
	source: HfModelInfo["source"],
	where: string,
): HfModelInfo {
	const repo = typeof body.id === "string" ? body.id : typeof body.modelId === "string" ? body.modelId : wanted.repo;
	if (repo.toLowerCase() !== wanted.repo.toLowerCase()) {
		throw new CliError("metadata_mismatch", `${where} describes '${repo}', not '${wanted.repo}'.`, {
			hint: "Use the metadata of the repo you are tokenizing.",
		});
	}
	const sha = typeof body.sha === "string" ? body.sha.toLowerCase() : "";
	if (!SHA_PATTERN.test(sha)) {
		throw new CliError("metadata_without_commit", `${where} has no commit sha ('sha': 40 hex digits).`, {
			hint: "The token pins a commit: the metadata needs the 'sha' field the Hugging Face API returns.",
		});
	}
	if (wanted.revision && SHA_PATTERN.test(wanted.revision.toLowerCase()) && wanted.revision.toLowerCase() !== sha) {
		throw new CliError("metadata_mismatch", `${where} is for commit ${sha}, not ${wanted.revision}.`, {
			hint: "Use the metadata of the revision you are tokenizing.",
		});
	}
	return {
		repo,
		sha,
		requestedRevision: wanted.revision,
		license: licenseOf(body),
		pipelineTag: typeof body.pipeline_tag === "string" ? body.pipeline_tag : null,
		gated: body.gated !== undefined && body.gated !== false,
		source,
	};
}

export function readMetadataFile(file: string, wanted: { repo: string; revision: string | null }): HfModelInfo {
	let body: HfApiModel;
	try {
		body = JSON.parse(readFileSync(file, "utf8")) as HfApiModel;
	} catch (error) {
		const missing = (error as { code?: string }).code === "ENOENT";
		throw new CliError(
			"bad_metadata_file",
			missing ? `No metadata file at ${file}.` : `${file} is not JSON (${(error as Error).message}).`,
			{
				hint:
					`Save the model's Hugging Face API answer where there is internet (curl https://huggingface.co/api/models/${wanted.repo}/revision/<rev> > ${file}),` +
					` or write at least {"id": "${wanted.repo}", "sha": "<the 40-hex commit>", "pipeline_tag": "text-generation", "cardData": {"license": "<license>"}}.`,
			},
		);
	}
	return toModelInfo(body, wanted, "file", file);
}

export async function fetchModelInfo(
	endpoint: string,
	wanted: { repo: string; revision: string | null },
	token?: string,
): Promise<HfModelInfo> {
	const path = wanted.revision
		? `/api/models/${wanted.repo}/revision/${encodeURIComponent(wanted.revision)}`
		: `/api/models/${wanted.repo}`;
	const url = `${endpoint}${path}`;
	const offlineHint =
		`Tokenize offline with --metadata <file>: the JSON of GET ${endpoint}/api/models/${wanted.repo}/revision/<rev>` +
		' saved where you have internet, or at least {"id", "sha", "pipeline_tag", "cardData": {"license"}}.\n' +
		"Or point MODELDEX_HF_ENDPOINT / --hf-endpoint at a reachable mirror.";
	let response: Response;
	try {
		response = await fetch(url, {
			headers: { accept: "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
			signal: AbortSignal.timeout(20_000),
		});
	} catch (error) {
		const timeout = (error as { name?: string }).name === "TimeoutError";
		if (timeout || isConnectionError(error)) {
			throw new CliError("huggingface_unreachable", `Cannot reach Hugging Face at ${endpoint}${timeout ? " (timed out)" : ""}.`, {
				hint: offlineHint,
				cause: error,
			});
		}
		throw error;
	}
	if (response.status === 401 || response.status === 403) {
		throw new CliError(
			"huggingface_forbidden",
			`Hugging Face refused access to '${wanted.repo}' (${response.status}): the repo is private or gated.`,
			{
				hint: token
					? "Your HF_TOKEN has no access to it: accept the model's terms on its page, or use a token that can read it."
					: "Set HF_TOKEN to a token that can read it (and accept the model's terms on its page), or use --metadata <file>.",
			},
		);
	}
	if (response.status === 404) {
		throw new CliError(
			"huggingface_not_found",
			wanted.revision
				? `Hugging Face has no revision '${wanted.revision}' of '${wanted.repo}' (or no such repo).`
				: `Hugging Face has no model '${wanted.repo}'.`,
			{ hint: "Check the spelling (case matters for revisions); a private repo also answers 404 without HF_TOKEN." },
		);
	}
	if (!response.ok) {
		throw new CliError("huggingface_error", `Hugging Face answered ${response.status} for ${url}.`, {
			hint: `Try again later. ${offlineHint}`,
		});
	}
	let body: HfApiModel;
	try {
		body = (await response.json()) as HfApiModel;
	} catch {
		throw new CliError("huggingface_error", `${url} did not answer JSON.`, { hint: `Check MODELDEX_HF_ENDPOINT (${endpoint}).` });
	}
	if (body.disabled === true) {
		throw new CliError("huggingface_disabled", `'${wanted.repo}' is disabled on Hugging Face.`, { hint: "Pick another model." });
	}
	return toModelInfo(body, wanted, "huggingface", url);
}

/** A ticker from the repo name: "Llama-3.1-8B-Instruct" → "LLAMA318BIN" (at most 11 characters). */
export function defaultSymbol(repo: string): string {
	const name = repo.split("/").pop() ?? repo;
	const letters = name.toUpperCase().replace(/[^A-Z0-9]/g, "");
	return (letters || "MODEL").slice(0, 11);
}
