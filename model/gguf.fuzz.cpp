// libFuzzer target for the GGUF reader (gguf.hpp): any bytes must parse to an error, or to a file
// whose metadata getters answer and whose every tensor dequantizes without reading outside the
// buffer (AddressSanitizer checks). Built with clang++ by aha_add_fuzzer; CI runs it briefly
// (ctest -L fuzz).
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "model/gguf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto f = aha::model::gguf_file::parse(data, size, "fuzz.gguf");
  if (!f) {
    if (f.error().message.empty()) std::abort();  // every refusal says why
    return 0;
  }
  for (const auto& [key, value] : f->metadata()) {
    (void)f->get_string(key);
    (void)f->get_int(key);
    (void)f->get_float(key);
    (void)f->get_strings(key);
    (void)f->get_ints(key);
  }
  std::int64_t total = 0;
  for (const auto& t : f->tensors()) total += t.elements();
  if (total > (1 << 24)) return 0;  // a valid header may promise more than the fuzzer should allocate
  for (const auto& t : f->tensors()) {
    std::vector<float> out(static_cast<std::size_t>(t.elements()));
    if (!f->dequantize(t, out.data())) std::abort();  // parse accepted only dequantizable types
  }
  return 0;
}
