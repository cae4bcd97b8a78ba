// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title IModelFactory
/// @notice Tokenizes Hugging Face models: one transaction clones (EIP-1167) a ModelToken and its
///         ModelSale, registers the token with the RevenueVault and records the creator's pricing.
interface IModelFactory {
    struct TokenizeParams {
        string repoId; // e.g. "meta-llama/Llama-3.1-8B-Instruct"
        string revision; // commit sha or tag; one token per repoId+revision
        string name;
        string symbol;
        string metadataURI;
        uint128 inputPricePer1M; // PACA base units per 1M input tokens
        uint128 outputPricePer1M; // PACA base units per 1M output tokens
        address creator; // receives the creator allocation and fees; zero means msg.sender
    }

    /// @notice Factory-wide launch parameters, copied into each model at tokenize time.
    struct LaunchConfig {
        uint256 totalSupply; // default 1e9 * 1e18
        uint256 graduationThreshold; // PACA raised on the curve at Singularity, default 6.28e6 * 1e18
        uint16 creatorBps; // default 314 (3.14 %)
        uint16 liquidityBps; // default 1250 (12.5 %); the rest of the supply is sold on the curve
        uint16 tradeFeeBps; // default 100 (1 %)
        uint16 protocolFeeShareBps; // share of the trade fee to the treasury, default 5000
        uint32 revenueDripPeriod; // default 1 hour: one settlement epoch
    }

    struct ModelInfo {
        address sale;
        address creator;
        uint128 inputPricePer1M;
        uint128 outputPricePer1M;
    }

    /// @notice Everything the indexer needs about a new model, in one event.
    /// @param creator the effective creator (params.creator, or the caller when that was zero).
    /// @param params the tokenize call verbatim: repoId, revision, name, symbol, metadataURI,
    ///        inputPricePer1M, outputPricePer1M, creator (as passed; may be zero).
    /// @param pair the Uniswap V2 MODEL/PACA pair address (created at graduation if nobody did before).
    /// @param config the launch parameters this model was created with.
    event ModelTokenized(
        address indexed token,
        address indexed sale,
        address indexed creator,
        bytes32 modelKey,
        address pair,
        TokenizeParams params,
        LaunchConfig config
    );
    event PricingUpdated(address indexed token, uint256 inputPricePer1M, uint256 outputPricePer1M);
    event LaunchConfigUpdated(LaunchConfig config);
    event TreasuryUpdated(address treasury);

    /// @notice The repo+revision already has a token.
    error ModelAlreadyTokenized(bytes32 modelKey, address token);
    error EmptyRepoIdOrRevision();
    error NotModelCreator(address token, address caller);
    error UnknownModel(address token);
    error InvalidLaunchConfig();
    error ZeroAddress();
    /// @notice `pairInitCodeHash` is not the one of the given Uniswap V2 factory: it put a pair at
    ///         `pair`, where the hash predicts `derived`.
    error PairInitCodeHashMismatch(bytes32 pairInitCodeHash, address pair, address derived);

    function tokenize(TokenizeParams calldata params) external returns (address token, address sale);
    function setPricing(address token, uint128 inputPricePer1M, uint128 outputPricePer1M) external;
    function setLaunchConfig(LaunchConfig calldata config) external;
    function setTreasury(address treasury) external;

    function modelKey(string calldata repoId, string calldata revision) external pure returns (bytes32);
    function tokenOf(bytes32 modelKey) external view returns (address);
    function modelInfo(address token) external view returns (ModelInfo memory);
    function isModel(address token) external view returns (bool);
    function launchConfig() external view returns (LaunchConfig memory);
    function treasury() external view returns (address);
    function pairFor(address token) external view returns (address);
    function predictAddresses(bytes32 modelKey) external view returns (address token, address sale);
}
