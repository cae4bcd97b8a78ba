// modeldex tokenize <hf-repo>[@revision]: one ModelFactory.tokenize transaction for a Hugging Face model
// pinned to a commit, with the license and pipeline tag read from the Hugging Face API.
import type { Abi, Address } from "viem";
import { modelFactoryAbi } from "../../lib/chain/abis.ts";
import { connectSigner, eventsOf, sendTransaction } from "../chain.ts";
import { CliError, usageError } from "../errors.ts";
import { defaultSymbol, fetchModelInfo, type HfModelInfo, parseRepoRef, readMetadataFile } from "../hf.ts";
import { paca } from "../output.ts";
import { type Command, parseAddress, parsePrice, str } from "./common.ts";

const MAX_UINT128 = (1n << 128n) - 1n;

/** What goes in the token's metadataURI: the provenance, on chain in the ModelTokenized event. */
export function metadataUri(info: HfModelInfo): string {
	const doc = {
		source: "huggingface",
		repo: info.repo,
		revision: info.sha,
		license: info.license,
		pipeline_tag: info.pipelineTag,
		url: `https://huggingface.co/${info.repo}/tree/${info.sha}`,
	};
	return `data:application/json;base64,${Buffer.from(JSON.stringify(doc)).toString("base64")}`;
}

export const tokenize: Command = {
	name: "tokenize",
	summary: "Tokenize a Hugging Face model (pinned to a commit) in one transaction",
	usage: "tokenize <hf-repo>[@revision]",
	description:
		"Reads the commit, license and pipeline tag from the Hugging Face API (MODELDEX_HF_ENDPOINT, HF_TOKEN for gated\n" +
		"repos), then calls ModelFactory.tokenize. Without @revision the default branch's current commit is pinned.\n" +
		"Offline, pass --metadata <file> with the API's JSON for that revision.",
	options: {
		metadata: { type: "string" },
		name: { type: "string" },
		symbol: { type: "string" },
		"input-price": { type: "string" },
		"output-price": { type: "string" },
		creator: { type: "string" },
		"dry-run": { type: "boolean" },
	},
	optionHelp: [
		["--metadata <file>", "Hugging Face API JSON to use instead of asking the API (offline)"],
		["--name <text>", "token name (default: the repo's name)"],
		["--symbol <TICKER>", "token symbol (default: from the repo's name)"],
		["--input-price <PACA>", "price per 1M input tokens (default 0.2)"],
		["--output-price <PACA>", "price per 1M output tokens (default 0.6)"],
		["--creator <address>", "who gets the creator allocation and fees (default: your wallet)"],
		["--dry-run", "show what would be sent, send nothing (needs no chain)"],
	],
	arity: [1, 1],
	async run({ config, out, args, values }) {
		const wanted = parseRepoRef(args[0] ?? "");
		const inputPrice = parsePrice(str(values, "input-price") ?? "0.2", "--input-price");
		const outputPrice = parsePrice(str(values, "output-price") ?? "0.6", "--output-price");
		for (const [price, flag] of [
			[inputPrice, "--input-price"],
			[outputPrice, "--output-price"],
		] as const) {
			if (price > MAX_UINT128) throw usageError(`${flag} is too large.`);
		}
		const creatorFlag = str(values, "creator");
		const creator: Address = creatorFlag ? parseAddress(creatorFlag, "--creator") : "0x0000000000000000000000000000000000000000";
		const symbol = str(values, "symbol") ?? defaultSymbol(wanted.repo);
		if (!/^[A-Za-z0-9]{1,11}$/.test(symbol))
			throw usageError(`'${symbol}' is not a token symbol.`, "Use 1-11 letters and digits.");

		const metadataFile = str(values, "metadata");
		let info: HfModelInfo;
		if (metadataFile) {
			info = readMetadataFile(metadataFile, wanted);
		} else {
			const step = out.step(`Reading ${wanted.repo}${wanted.revision ? `@${wanted.revision}` : ""} from Hugging Face`);
			try {
				info = await fetchModelInfo(config.hfEndpoint, wanted, config.hfToken);
				step.done(`commit ${info.sha.slice(0, 12)}`);
			} catch (error) {
				step.fail();
				throw error;
			}
		}
		if (!info.license)
			out.warn(`${info.repo} declares no license on Hugging Face; check that it may be served before selling access to it.`);
		if (info.gated) out.warn(`${info.repo} is gated on Hugging Face: whoever serves it must accept its terms.`);

		const name = str(values, "name") ?? info.repo.split("/").pop() ?? info.repo;
		const params = {
			repoId: info.repo,
			revision: info.sha,
			name,
			symbol: symbol.toUpperCase(),
			metadataURI: metadataUri(info),
			inputPricePer1M: inputPrice,
			outputPricePer1M: outputPrice,
			creator,
		};
		const describe = () => [
			`  repo         ${info.repo}`,
			`  commit       ${info.sha}${info.requestedRevision && info.requestedRevision !== info.sha ? ` (${info.requestedRevision})` : ""}`,
			`  license      ${info.license ?? "(none declared)"}`,
			`  pipeline     ${info.pipelineTag ?? "(none)"}`,
			`  name         ${params.name} (${params.symbol})`,
			`  prices       ${paca(inputPrice)} in / ${paca(outputPrice)} out per 1M tokens`,
		];
		const huggingface = {
			repo: info.repo,
			revision: info.sha,
			requested_revision: info.requestedRevision,
			license: info.license,
			pipeline_tag: info.pipelineTag,
			gated: info.gated,
			source: info.source,
		};
		if (values["dry-run"]) {
			out.result({ dry_run: true, huggingface, params }, () => ["Would tokenize (dry run, nothing sent):", ...describe()]);
			return;
		}

		const ctx = await connectSigner(config, out);
		const factory = ctx.addresses.modelFactory;
		const receipt = await sendTransaction(ctx, `Tokenizing ${info.repo}@${info.sha.slice(0, 12)}`, {
			address: factory,
			abi: modelFactoryAbi as Abi,
			functionName: "tokenize",
			args: [params],
		});
		const event = eventsOf(receipt, modelFactoryAbi as Abi).find((e) => e.eventName === "ModelTokenized");
		if (!event) throw new CliError("missing_event", `Transaction ${receipt.transactionHash} emitted no ModelTokenized event.`);
		const token = event.args.token as Address;
		const sale = event.args.sale as Address;
		out.result(
			{
				token,
				sale,
				pair: event.args.pair as Address,
				creator: event.args.creator as Address,
				model_key: event.args.modelKey,
				transaction: receipt.transactionHash,
				block: receipt.blockNumber,
				huggingface,
				params,
			},
			() => [
				`Tokenized ${info.repo} at commit ${info.sha}.`,
				...describe(),
				`  token        ${token}`,
				`  sale         ${sale}`,
				"",
				`Next: buy into its IMO with \`modeldex buy ${token} <PACA amount>\`.`,
			],
		);
	},
};
