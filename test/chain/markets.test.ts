import { env } from "cloudflare:test";
import { getAddress, parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { modelFactoryAbi, modelTokenAbi } from "../../lib/chain/abis.ts";
import { marketByToken, modelByToken } from "../../lib/db/chain.ts";
import { openDb } from "../../lib/db/client.ts";
import { callGateway } from "../helpers/gateway.ts";
import { buy, deployment, newAccount, runIndexer, send, tokenize } from "./helpers.ts";

const net = () => deployment("indexer");
const db = () => openDb(env.DB);

describe("indexer: markets", () => {
	it("follows a model from tokenize through trades, price changes and transfers to graduation into its pool", async () => {
		const creator = await newAccount(net(), 0n);
		const trader = await newAccount(net(), parseEther("8000000"));
		const friend = await newAccount(net(), 0n);
		const { token, sale, repoId } = await tokenize(net(), creator.wallet);
		await runIndexer(net());
		const created = await marketByToken(db(), token);
		expect(created).toMatchObject({ modelId: repoId, status: "funding", raised: 0n, holders: 1 });
		const model = await modelByToken(db(), token);
		expect(model).toMatchObject({
			id: repoId,
			hfRepo: repoId,
			hfRevision: "main",
			imoStatus: "funding",
			saleAddress: sale.toLowerCase(),
		});

		await buy(net(), trader.wallet, sale, parseEther("1000"));
		await send(net(), creator.wallet, {
			address: net().addresses.modelFactory,
			abi: modelFactoryAbi,
			functionName: "setPricing",
			args: [token, parseEther("3"), parseEther("9")],
		});
		await send(net(), trader.wallet, {
			address: token,
			abi: modelTokenAbi,
			functionName: "transfer",
			args: [getAddress(friend.address), 1000n],
		});
		await runIndexer(net());
		const funded = await marketByToken(db(), token);
		expect(funded?.raised).toBeGreaterThan(0n);
		expect(funded?.price).toBeGreaterThan(created?.price ?? 0n);
		expect(funded).toMatchObject({ holders: 3, inputPricePerM: parseEther("3"), outputPricePerM: parseEther("9") });
		expect(await modelByToken(db(), token)).toMatchObject({ inputPricePerM: parseEther("3"), outputPricePerM: parseEther("9") });

		// Singularity: the rest of the curve in one buy graduates into the Uniswap V2 pair.
		await buy(net(), trader.wallet, sale, parseEther("7000000"));
		await runIndexer(net());
		const graduated = await marketByToken(db(), token);
		expect(graduated?.status).toBe("graduated");
		expect(await modelByToken(db(), token)).toMatchObject({ imoStatus: "graduated", poolAddress: graduated?.pair });

		const res = await callGateway(`/v1/markets/${repoId}`);
		expect(res.status).toBe(200);
		expect(res.json()).toMatchObject({
			status: "graduated",
			pool_address: graduated?.pair,
			imo: { progress_bps: 10_000 },
			holders: 3,
		});
		expect(BigInt(res.json().market_cap)).toBeGreaterThan(0n);
		const trades = await callGateway(`/v1/markets/${repoId}/trades?limit=5`);
		expect(trades.json().data.map((t: { side: string }) => t.side)).toEqual(["buy", "buy"]);
		expect((await callGateway("/v1/markets/no-such/model")).status).toBe(404);
	});
});
