import { env } from "cloudflare:test";
import { getAddress, type Hex, parseAbi, parseEther } from "viem";
import { beforeAll, describe, expect, it } from "vitest";
import { epochRow } from "../../lib/db/chain.ts";
import { upsertModel } from "../../lib/db/models.ts";
import { insertUsage } from "../../lib/db/usage.ts";
import { issueSession } from "../../workers/gateway/session.ts";
import { db, newKey, testEnv } from "../helpers/fixtures.ts";
import { callGateway } from "../helpers/gateway.ts";
import { deployment, deposit, fixture, newAccount, publicClient, runSettler, tokenize } from "./helpers.ts";

const net = () => deployment("proofs");
const EPOCH_MS = 60_000;
const usageProofCheckAbi = parseAbi([
	"function verify(address vault, bytes32[] proof, uint64 epoch, address payer, address model, uint256 inputTokens, uint256 outputTokens, uint256 fee) view returns (bool)",
]);

interface UsageBody {
	epoch: number;
	status: string;
	data: Array<{ model: string; token: Hex; input_tokens: string; output_tokens: string; fee: string; proof: Hex[] }>;
}

// Three payers × two models, several requests each: a tree with six leaves.
let epoch = 0;
const payers: string[] = [];
beforeAll(async () => {
	const funder = await newAccount(net(), parseEther("100"));
	await deposit(net(), funder.wallet, parseEther("100"));
	const creator = await newAccount(net(), 0n);
	const modelIds: string[] = [];
	for (let m = 0; m < 2; m++) {
		const { token, repoId } = await tokenize(net(), creator.wallet);
		await upsertModel(db(), {
			id: repoId,
			displayName: repoId,
			inputPricePerM: parseEther("2"),
			outputPricePerM: parseEther("6"),
			tokenAddress: token.toLowerCase(),
			upstreams: [],
		});
		modelIds.push(repoId);
	}
	for (let p = 0; p < 3; p++) payers.push((await newKey({ credit: 0n })).payer);
	const createdAt = Date.now();
	epoch = Math.floor(createdAt / EPOCH_MS);
	await insertUsage(
		db(),
		payers.flatMap((payer, p) =>
			modelIds.flatMap((modelId, m) =>
				[1, 2].map((r) => ({
					requestId: `req_${crypto.randomUUID()}`,
					keyId: "key_test",
					payer,
					modelId,
					promptTokens: 100 * (p + 1) + r,
					completionTokens: 10 * (m + 1),
					fee: BigInt(1_000_000 * (p + 1) + 1_000 * (m + 1) + r),
					status: "ok" as const,
					usageSource: "upstream" as const,
					createdAt,
				})),
			),
		),
	);
	await runSettler(net(), (epoch + 1) * EPOCH_MS + 1_000);
	const row = await epochRow(db(), epoch);
	console.log(`settle gas (2 models, 6 leaves, first settlement of both): ${row?.gasUsed}`);
});

async function usageOf(payer: string, query = `epoch=${epoch}`) {
	const { token } = await issueSession(testEnv(), payer);
	return callGateway(`/v1/account/usage?${query}`, { headers: { authorization: `Bearer ${token}` } });
}

describe("GET /v1/account/usage", () => {
	it("returns each payer only its own leaves, whose proofs verify on chain with MerkleProof.verify", async () => {
		const client = publicClient(net());
		for (const [p, payer] of payers.entries()) {
			const res = await usageOf(payer);
			expect(res.status).toBe(200);
			const body = res.json() as UsageBody;
			expect(body.status).toBe("confirmed");
			expect(body.data).toHaveLength(2);
			for (const leaf of body.data) {
				expect(leaf.proof.length).toBeGreaterThan(1);
				// Two requests folded into one leaf per payer and model.
				expect(BigInt(leaf.input_tokens)).toBe(BigInt(2 * 100 * (p + 1) + 3));
				const args = [
					net().addresses.revenueVault,
					leaf.proof,
					BigInt(epoch),
					getAddress(payer),
					getAddress(leaf.token),
					BigInt(leaf.input_tokens),
					BigInt(leaf.output_tokens),
					BigInt(leaf.fee),
				] as const;
				const check = { address: fixture().usageProofCheck, abi: usageProofCheckAbi, functionName: "verify" } as const;
				expect(await client.readContract({ ...check, args })).toBe(true);
				// Another payer cannot claim this usage as theirs.
				const other = getAddress(payers[(p + 1) % payers.length] ?? payer);
				expect(
					await client.readContract({ ...check, args: [args[0], args[1], args[2], other, args[4], args[5], args[6], args[7]] }),
				).toBe(false);
			}
		}
	});

	it("answers 500 instead of proofs that would not verify when the leaves no longer make the epoch's root", async () => {
		const payer = payers[0] as string;
		const leaf = await env.DB.prepare("SELECT fee FROM usage_leaves WHERE epoch = ? AND payer = ? LIMIT 1")
			.bind(epoch, payer)
			.first<{ fee: string }>();
		const fee = leaf?.fee ?? "0";
		const edited = (BigInt(fee) + 1n).toString();
		const setFee = (from: string, to: string) =>
			env.DB.prepare("UPDATE usage_leaves SET fee = ? WHERE epoch = ? AND payer = ? AND fee = ?")
				.bind(to, epoch, payer, from)
				.run();
		await setFee(fee, edited);
		try {
			const res = await usageOf(payer);
			expect(res.status).toBe(500);
			expect(res.json().error.type).toBe("server_error");
		} finally {
			await setFee(edited, fee);
		}
		expect((await usageOf(payer)).status).toBe(200);
	});

	it("returns an empty list to a payer without usage in the epoch", async () => {
		const { payer } = await newKey({ credit: 0n });
		const res = await usageOf(payer);
		expect(res.status).toBe(200);
		expect((res.json() as UsageBody).data).toEqual([]);
	});

	it("refuses requests without a session, with an API key, or with a bad or unknown epoch", async () => {
		expect((await callGateway(`/v1/account/usage?epoch=${epoch}`)).status).toBe(401);
		const { key } = await newKey({ credit: 0n });
		expect((await callGateway(`/v1/account/usage?epoch=${epoch}`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(
			401,
		);
		const payer = payers[0] ?? "";
		const bad = await usageOf(payer, "epoch=-1");
		expect(bad.status).toBe(400);
		expect(bad.json().error.param).toBe("epoch");
		expect((await usageOf(payer, "epoch=1")).status).toBe(404);
	});
});
