// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

interface IUsageRoots {
    function usageRoot(uint64 epoch) external view returns (bytes32);
}

/// @notice Test helper: checks a usage leaf served by the API against the root the vault stored
///         for its epoch, with OpenZeppelin's MerkleProof and the StandardMerkleTree leaf hash.
contract UsageProofCheck {
    function verify(
        address vault,
        bytes32[] calldata proof,
        uint64 epoch,
        address payer,
        address model,
        uint256 inputTokens,
        uint256 outputTokens,
        uint256 fee
    ) external view returns (bool) {
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(epoch, payer, model, inputTokens, outputTokens, fee))));
        return MerkleProof.verify(proof, IUsageRoots(vault).usageRoot(epoch), leaf);
    }
}
