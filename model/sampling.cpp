// The sampler's truncated, renormalised distribution (model/sampling.hpp).
#include "model/sampling.hpp"

#include <limits>

namespace aha::model {
namespace {

constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

torch::Tensor keep_top_k(const torch::Tensor& logp, std::int64_t k) {  // [R, V]
  if (k <= 0 || k >= logp.size(-1)) return logp;
  auto kth = std::get<0>(logp.topk(k, -1)).narrow(-1, k - 1, 1);  // [R, 1]
  // Ties with the k-th value stay (more than k tokens then): the kept set is a function of the values.
  return torch::log_softmax(logp.masked_fill(logp < kth, kMinusInf), -1);
}

torch::Tensor keep_top_p(const torch::Tensor& logp, double p) {  // [R, V], normalised
  if (p >= 1.0) return logp;
  auto sorted = logp.sort(-1, /*descending=*/true);
  auto values = std::get<0>(sorted), order = std::get<1>(sorted);  // [R, V]
  auto probs = values.exp();
  // Drop a token when the mass before it already reaches p; the most likely token always stays.
  auto drop = (probs.cumsum(-1) - probs) >= p;
  values = values.masked_fill(drop, kMinusInf);
  return torch::log_softmax(torch::empty_like(logp).scatter_(-1, order, values), -1);
}

}  // namespace

torch::Tensor truncate_log_softmax(const torch::Tensor& logp, const sampler_truncation& truncation) {
  return keep_top_p(keep_top_k(logp, truncation.top_k), truncation.top_p);
}

torch::Tensor sampler_log_softmax(const torch::Tensor& logits, double temperature, const sampler_truncation& truncation) {
  return truncate_log_softmax(torch::log_softmax(logits / temperature, -1), truncation);
}

}  // namespace aha::model
