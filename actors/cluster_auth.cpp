// Cluster authentication helpers (actors/cluster_auth.hpp) over libsodium.
#include "actors/cluster_auth.hpp"

#include <array>
#include <fstream>
#include <stdexcept>

#include <sodium.h>

namespace aha::actors::auth {
namespace {

void ensure_sodium() {
  // Thread-safe and idempotent; -1 only when the library cannot seed its generator.
  static const int ready = sodium_init();
  if (ready < 0) throw std::runtime_error("libsodium: sodium_init failed (no entropy source?)");
}

std::string to_hex(const unsigned char* bytes, std::size_t size) {
  std::string out(size * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes, size);
  out.pop_back();  // the terminating NUL sodium_bin2hex writes
  return out;
}

std::string labelled_proof(std::string_view label, std::string_view secret, std::string_view challenge,
                           std::string_view node_nonce, std::string_view node_id) {
  std::string message;
  message.append(label).append("\n").append(challenge).append("\n").append(node_nonce).append("\n").append(node_id);
  return hmac_hex(secret, message);
}

}  // namespace

std::string random_nonce() {
  ensure_sodium();
  std::array<unsigned char, 32> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  return to_hex(bytes.data(), bytes.size());
}

std::string hmac_hex(std::string_view secret, std::string_view message) {
  ensure_sodium();
  crypto_auth_hmacsha256_state state;
  std::array<unsigned char, crypto_auth_hmacsha256_BYTES> mac{};
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(message.data()), message.size());
  crypto_auth_hmacsha256_final(&state, mac.data());
  sodium_memzero(&state, sizeof state);
  return to_hex(mac.data(), mac.size());
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;  // proofs have a fixed length: the length is no secret
  ensure_sodium();
  return a.empty() || sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string node_proof(std::string_view secret, std::string_view challenge, std::string_view node_nonce,
                       std::string_view node_id) {
  return labelled_proof("aha-node-v1", secret, challenge, node_nonce, node_id);
}

std::string controller_proof(std::string_view secret, std::string_view challenge, std::string_view node_nonce,
                             std::string_view node_id) {
  return labelled_proof("aha-controller-v1", secret, challenge, node_nonce, node_id);
}

result<std::string> load_secret(const std::string& secret, const std::string& secret_file, const std::string& where) {
  if (!secret.empty() && !secret_file.empty()) {
    return make_error(errc::invalid_argument, where + "secret and " + where + "secret_file are both set: keep one");
  }
  std::string out = secret;
  if (!secret_file.empty()) {
    std::ifstream in(secret_file);
    if (!in) {
      return make_error(errc::not_found, where + "secret_file: cannot read " + secret_file +
                                             " (create it, e.g. `openssl rand -hex 32 > " + secret_file + "`)");
    }
    std::getline(in, out);
    while (!out.empty() && (out.back() == '\r' || out.back() == ' ' || out.back() == '\t')) out.pop_back();
  }
  if (out.empty()) {
    return make_error(errc::invalid_argument,
                      where + "secret is empty: set " + where + "secret or " + where +
                          "secret_file to the same value on the controller and every node "
                          "(e.g. the output of `openssl rand -hex 32`)");
  }
  return out;
}

}  // namespace aha::actors::auth
