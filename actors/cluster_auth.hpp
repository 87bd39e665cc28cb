// Cluster authentication: a node and the controller prove to each other that they hold the same
// shared secret without sending it (challenge-response, HMAC-SHA256 from libsodium; proofs are
// compared in constant time). No CAF here: the handshake that uses these lives in cluster.hpp.
// What it is not: encryption. CAF 0.17's wire (BASP) is plain TCP; see docs/cluster.md.
// Tested by actors/cluster.test.cpp.
#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace aha::actors::auth {

// 32 random bytes as 64 hex digits (libsodium's CSPRNG).
std::string random_nonce();

// hex(HMAC-SHA256(key = secret, message)).
std::string hmac_hex(std::string_view secret, std::string_view message);

// True when a == b; the time taken depends only on the lengths, never on where they differ.
bool equal_constant_time(std::string_view a, std::string_view b);

// What a node proves: it answers the controller's challenge, bound to its own nonce and name.
std::string node_proof(std::string_view secret, std::string_view challenge, std::string_view node_nonce,
                       std::string_view node_id);
// What the controller proves back (a different label, so one proof never answers for the other).
std::string controller_proof(std::string_view secret, std::string_view challenge, std::string_view node_nonce,
                             std::string_view node_id);

// The secret of a cluster: `secret`, or the first line of `secret_file` when set (trailing
// whitespace dropped). Both set, or an empty result, is an error naming `where` (the key prefix).
result<std::string> load_secret(const std::string& secret, const std::string& secret_file, const std::string& where);

}  // namespace aha::actors::auth
