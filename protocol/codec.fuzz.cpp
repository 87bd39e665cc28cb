// libFuzzer target for the message decoder: any bytes must decode to an error or to a message
// that re-encodes and decodes to the same bytes. Built with clang++ by aha_add_fuzzer; CI runs
// it for a bounded time (ctest -L fuzz).
#include <cstdint>
#include <cstdlib>

#include "protocol/codec.hpp"

namespace {

template <class T>
void round_trip(const std::uint8_t* data, std::size_t size) {
  aha::protocol::decode_limits limits;
  limits.max_frame_bytes = 1 << 20;
  auto decoded = aha::protocol::decode<T>(reinterpret_cast<const char*>(data), size, limits);
  if (!decoded) return;
  std::string again = aha::protocol::encode(*decoded);
  auto second = aha::protocol::decode<T>(again);
  if (!second || aha::protocol::encode(*second) != again) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace aha::protocol;
  (void)peek(std::string_view(reinterpret_cast<const char*>(data), size));
  round_trip<prompt>(data, size);
  round_trip<rollout>(data, size);
  round_trip<reward_verdict>(data, size);
  round_trip<scored_group>(data, size);
  round_trip<learner_batch>(data, size);
  round_trip<weight_update_header>(data, size);
  round_trip<node_registration>(data, size);
  round_trip<sandbox_request>(data, size);
  round_trip<sandbox_reply>(data, size);
  return 0;
}
