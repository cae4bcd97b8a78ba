import { env } from "cloudflare:test";
import { type Address, getAddress, parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { localPacaAbi, modelFactoryAbi, modelTokenAbi, uniswapV2PairAbi, uniswapV2Router02Abi } from "../../lib/chain/abis.ts";
import { marketByToken, modelByToken } from "../../lib/db/chain.ts";
import { db } from "../helpers/fixtures.ts";
import { callGateway } from "../helpers/gateway.ts";
import { buy, deployment, newAccount, publicClient, runIndexer, send, tokenize } from "./helpers.ts";

const net = () => deployment("indexer");

/** The token's own ModelToken.shareSupply(), the supply revenue is shared over. */
const chainShareSupply = (token: Address) =>
	publicClient(net()).readContract({ address: token, abi: modelTokenAbi, functionName: "shareSupply" });

const balanceOf = (token: Address, account: string) =>
	publicClient(net()).readContract({
		address: token,
		abi: modelTokenAbi,
		functionName: "balanceOf",
		args: [getAddress(account)],
	});

interface HolderItem {
	account: string;
	balance: string;
	share_bps: number | null;
}

describe("indexer: markets", () => {
	it("follows a model from tokenize through trades, price changes and transfers to graduation, then prices it from its pool", async () => {
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
		// Tokens sent to the token contract itself or to the vault: neither can claim (the token
		// excludes both from its share supply), so neither is a holder.
		for (const to of [token, net().addresses.revenueVault]) {
			await send(net(), trader.wallet, {
				address: token,
				abi: modelTokenAbi,
				functionName: "transfer",
				args: [getAddress(to), 7n],
			});
		}
		await runIndexer(net());
		const funded = await marketByToken(db(), token);
		expect(funded?.raised).toBeGreaterThan(0n);
		expect(funded?.price).toBeGreaterThan(created?.price ?? 0n);
		expect(funded).toMatchObject({ holders: 3, inputPricePerM: parseEther("3"), outputPricePerM: parseEther("9") });
		// Less what the sale holds, and the 7 base units each of the token and the vault got.
		expect(funded?.shareSupply).toBe(await chainShareSupply(token));
		expect(await modelByToken(db(), token)).toMatchObject({ inputPricePerM: parseEther("3"), outputPricePerM: parseEther("9") });

		// Singularity: the rest of the curve in one buy graduates into the Uniswap V2 pair.
		await buy(net(), trader.wallet, sale, parseEther("7000000"));
		await runIndexer(net());
		const graduated = await marketByToken(db(), token);
		expect(graduated?.status).toBe("graduated");
		expect(graduated?.shareSupply).toBe(await chainShareSupply(token)); // less the pool's reserve
		expect(await modelByToken(db(), token)).toMatchObject({ imoStatus: "graduated", poolAddress: graduated?.pair });

		// From now on the price is the pool's, and follows swaps.
		const pool = getAddress(graduated?.pair ?? "");
		const poolPrice = async () => {
			const [r0, r1] = await publicClient(net()).readContract({
				address: pool,
				abi: uniswapV2PairAbi,
				functionName: "getReserves",
			});
			const tokenIs0 = token.toLowerCase() < net().addresses.paca.toLowerCase();
			return ((tokenIs0 ? r1 : r0) * 10n ** 18n) / (tokenIs0 ? r0 : r1);
		};
		expect(graduated?.price).toBe(await poolPrice());
		const router = net().addresses.uniswapV2Router02;
		await send(net(), trader.wallet, {
			address: net().addresses.paca,
			abi: localPacaAbi,
			functionName: "approve",
			args: [router, parseEther("50000")],
		});
		const deadline = BigInt(Math.floor(Date.now() / 1000) + 3600 * 24 * 365);
		await send(net(), trader.wallet, {
			address: router,
			abi: uniswapV2Router02Abi,
			functionName: "swapExactTokensForTokens",
			args: [parseEther("50000"), 1n, [net().addresses.paca, token], getAddress(trader.address), deadline],
		});
		await runIndexer(net());
		const swapped = await marketByToken(db(), token);
		expect(swapped?.price).toBe(await poolPrice());
		expect(swapped?.price).toBeGreaterThan(graduated?.price ?? 0n);
		expect(swapped?.shareSupply).toBe(await chainShareSupply(token)); // tokens out of the pool share again
		expect(swapped?.shareSupply).toBeGreaterThan(graduated?.shareSupply ?? 0n);

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
		const top = (await callGateway(`/v1/markets/${repoId}/holders?limit=100`)).json();
		expect(top.holders).toBe(3);
		expect(top.data.map((h: { account: string }) => h.account)).not.toContain(token.toLowerCase());
		expect(top.data.map((h: { account: string }) => h.account)).not.toContain(net().addresses.revenueVault.toLowerCase());
		expect((await callGateway("/v1/markets/no-such/model")).status).toBe(404);
		// A limit that is not a whole number from 1 to 100 is the client's error, named.
		for (const bad of ["2.5", "abc", "0", "101", "-5"]) {
			const refused = await callGateway(`/v1/markets/${repoId}/holders?limit=${bad}`);
			expect(refused.status).toBe(400);
			expect(refused.json().error).toMatchObject({ code: "invalid_request", param: "limit" });
		}
	});

	it("gives each holder's share of revenue over the token's share supply, not its total supply", async () => {
		const creator = await newAccount(net(), 0n);
		const trader = await newAccount(net(), parseEther("1000"));
		const { token, sale, repoId } = await tokenize(net(), creator.wallet);
		await buy(net(), trader.wallet, sale, parseEther("1000"));
		await runIndexer(net());

		// The sale still holds almost all of the supply; revenue is shared among the creator and the trader.
		const total = parseEther("1000000000");
		const shareSupply = await chainShareSupply(token);
		expect(await balanceOf(token, sale)).toBeGreaterThan((total * 9n) / 10n);
		expect(shareSupply).toBe((await balanceOf(token, creator.address)) + (await balanceOf(token, trader.address)));
		expect((await marketByToken(db(), token))?.shareSupply).toBe(shareSupply);
		expect((await callGateway(`/v1/markets/${repoId}`)).json()).toMatchObject({ share_supply: shareSupply.toString() });

		const top = (await callGateway(`/v1/markets/${repoId}/holders`)).json() as { holders: number; data: HolderItem[] };
		expect(top.holders).toBe(2);
		const shares = new Map(top.data.map((h) => [h.account, h.share_bps]));
		expect([...shares.keys()].sort()).toEqual([creator.address, trader.address].sort());
		for (const h of top.data) expect(h.share_bps).toBe(Number((BigInt(h.balance) * 10_000n) / shareSupply));
		// The creator's 3.14% of the total supply is most of the supply that earns revenue.
		expect(shares.get(creator.address)).toBeGreaterThan(9_000);
		expect(Number((BigInt(top.data.find((h) => h.account === creator.address)?.balance ?? 0) * 10_000n) / total)).toBe(314);
		// Together they take all of it, short of rounding each down.
		const sum = top.data.reduce((s, h) => s + (h.share_bps ?? 0), 0);
		expect(sum).toBeGreaterThanOrEqual(9_999);
		expect(sum).toBeLessThanOrEqual(10_000);
	});

	it("derives the share supply of a market indexed before it had one, and drops an old holder row of the vault", async () => {
		const creator = await newAccount(net(), 0n);
		const { token, repoId } = await tokenize(net(), creator.wallet);
		await runIndexer(net());
		// As an indexer from before share_supply and before 4d6e91c left the row: the vault as a holder.
		await env.DB.prepare("UPDATE model_markets SET share_supply = NULL WHERE token = ?").bind(token.toLowerCase()).run();
		await env.DB.prepare("INSERT INTO holders (token, account, balance, balance_key) VALUES (?, ?, '7', ?)")
			.bind(token.toLowerCase(), net().addresses.revenueVault.toLowerCase(), (7).toString(16).padStart(64, "0"))
			.run();
		const before = (await callGateway(`/v1/markets/${repoId}/holders`)).json() as { data: HolderItem[] };
		expect(before.data.map((h) => h.share_bps)).toEqual([null, null]);

		await runIndexer(net());
		const shareSupply = await chainShareSupply(token);
		expect(shareSupply).toBe(await balanceOf(token, creator.address));
		expect((await marketByToken(db(), token))?.shareSupply).toBe(shareSupply);
		const after = (await callGateway(`/v1/markets/${repoId}/holders`)).json() as { data: HolderItem[] };
		expect(after.data).toEqual([{ account: creator.address, balance: shareSupply.toString(), share_bps: 10_000 }]);
	});

	it("documents the chain routes in /openapi.json", async () => {
		const paths = Object.keys((await callGateway("/openapi.json")).json().paths);
		expect(paths).toEqual(
			expect.arrayContaining([
				"/v1/account/usage",
				"/v1/account/deposits",
				"/v1/account/withdrawals",
				"/v1/markets/{id}",
				"/v1/markets/{id}/trades",
				"/v1/markets/{id}/holders",
			]),
		);
	});

	it("documents share_bps in /openapi.json as a share of the share supply, not of the total supply", async () => {
		const spec = (await callGateway("/openapi.json")).json();
		const holders = spec.paths["/v1/markets/{id}/holders"].get.responses["200"].content["application/json"].schema;
		expect(holders).toEqual({ $ref: "#/components/schemas/MarketHolders" });
		const item = spec.components.schemas.MarketHolders.properties.data.items;
		expect(item.properties.share_bps.description).toMatch(/over the share supply, not the total supply/);
		expect(item.properties.share_bps.description).toMatch(/sale.*pair.*dead address.*token contract itself.*RevenueVault/);
		expect(spec.components.schemas.ModelMarket.properties.share_supply.description).toMatch(/ModelToken\.shareSupply\(\)/);
	});

	it("documents a deposit's status in /openapi.json, reversed by a reorg included", async () => {
		const spec = (await callGateway("/openapi.json")).json();
		const status = spec.components.schemas.Deposit.properties.status;
		expect(status.enum).toEqual(["pending", "credited", "reversed"]);
		expect(status.description).toMatch(/reversed: it was credited, then a chain reorg removed the deposit/);
	});
});
