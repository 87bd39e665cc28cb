// SFT and GRPO optimizer steps over padded batches (actors/policy_trainer.hpp).
#include "actors/policy_trainer.hpp"

#include <algorithm>
#include <cmath>

#include "actors/advantages.hpp"
#include "model/logprobs.hpp"

namespace aha::actors {

void load_snapshot(model::transformer& model, const weights_snapshot& snapshot) {
  torch::NoGradGuard no_grad;
  auto params = model->named_parameters(true);
  if (params.size() != snapshot.parameters.size()) {
    throw std::invalid_argument("load_snapshot: the snapshot has " + std::to_string(snapshot.parameters.size()) +
                                " tensors, the model " + std::to_string(params.size()));
  }
  for (const auto& [name, tensor] : snapshot.parameters) {
    auto* target = params.find(name);
    if (!target || !target->sizes().equals(tensor.sizes())) {
      throw std::invalid_argument("load_snapshot: no parameter '" + name + "' of the snapshot's shape");
    }
    target->copy_(tensor);
  }
}

// A batch laid out for token_logprobs: row i is prompt_i + completion_i, right-padded to L.
// Log-prob column t predicts token t + 1, so completion token j of row i sits in column P_i + j - 1.
struct policy_trainer::packed {
  torch::Tensor input_ids;        // [N, L] int64
  torch::Tensor attention_mask;   // [N, L] bool
  torch::Tensor completion_mask;  // [N, L-1] float: 1 where the column predicts a completion token
  std::vector<std::int64_t> prompt_lengths;
  std::int64_t tokens = 0;        // completion tokens in the batch
};

policy_trainer::policy_trainer(model::transformer policy, trainer_config config, std::int32_t pad_id)
    : policy_(std::move(policy)), pad_id_(pad_id) {
  begin_stage(config);
}

void policy_trainer::begin_stage(const trainer_config& config) {
  config_ = config;
  std::vector<torch::Tensor> params;
  for (auto& p : policy_->parameters()) params.push_back(p);
  optimizer_ = std::make_unique<model::optimizer>(params, config_.optimizer);
  reference_ = model::transformer{nullptr};
  if (config_.loss.kl_beta > 0) {
    reference_ = model::transformer(policy_->config());
    reference_->to(policy_->parameters().front().device());
    model::copy_weights(reference_, policy_);
    for (auto& p : reference_->parameters()) p.set_requires_grad(false);
    reference_->eval();
  }
}

policy_trainer::packed policy_trainer::pack(const std::vector<std::vector<std::int32_t>>& prompts,
                                            const std::vector<std::vector<std::int32_t>>& completions) const {
  const auto n = static_cast<std::int64_t>(prompts.size());
  std::int64_t length = 2;
  for (std::int64_t i = 0; i < n; ++i) {
    length = std::max<std::int64_t>(length, prompts[i].size() + completions[i].size());
  }
  packed out;
  out.input_ids = torch::full({n, length}, pad_id_, torch::kInt64);
  out.attention_mask = torch::zeros({n, length}, torch::kBool);
  out.completion_mask = torch::zeros({n, length - 1}, torch::kFloat32);
  auto ids = out.input_ids.accessor<std::int64_t, 2>();
  auto valid = out.attention_mask.accessor<bool, 2>();
  auto predicts = out.completion_mask.accessor<float, 2>();
  for (std::int64_t i = 0; i < n; ++i) {
    const auto& p = prompts[i];
    const auto& c = completions[i];
    std::int64_t at = 0;
    for (auto token : p) ids[i][at] = token, valid[i][at++] = true;
    for (auto token : c) ids[i][at] = token, valid[i][at++] = true;
    for (std::int64_t j = 0; j < static_cast<std::int64_t>(c.size()); ++j) {
      predicts[i][static_cast<std::int64_t>(p.size()) + j - 1] = 1.0f;
    }
    out.prompt_lengths.push_back(static_cast<std::int64_t>(p.size()));
    out.tokens += static_cast<std::int64_t>(c.size());
  }
  // Built on the CPU (accessors); used on the policy's device.
  const auto device = policy_->parameters().front().device();
  out.input_ids = out.input_ids.to(device);
  out.attention_mask = out.attention_mask.to(device);
  out.completion_mask = out.completion_mask.to(device);
  return out;
}

metric_map policy_trainer::sft_step(const std::vector<sft_example>& batch) {
  std::vector<std::vector<std::int32_t>> prompts, completions;
  for (const auto& example : batch) prompts.push_back(example.prompt), completions.push_back(example.completion);
  packed data = pack(prompts, completions);
  policy_->train();
  auto result = model::token_logprobs(policy_, data.input_ids, data.attention_mask, 1.0);
  torch::Tensor loss = model::sft_loss(result.logprobs, data.completion_mask);
  loss.backward();
  metric_map metrics;
  metrics["sft/lr"] = optimizer_->lr_at(optimizer_->steps_taken());
  metrics["sft/grad_norm"] = optimizer_->step();
  metrics["sft/loss"] = loss.item<double>();
  metrics["sft/tokens"] = static_cast<double>(data.tokens);
  return metrics;
}

// A GRPO batch as rows (one per rollout whose grading succeeded) with every per-token input of
// the loss in the learner's columns (packed's layout).
struct policy_trainer::grpo_rows {
  packed data;                    // undefined tensors when no row is left
  torch::Tensor behaviour;        // [N, L-1] log pi_behaviour (the generator's sampler), 0 off completions
  torch::Tensor advantage;        // [N]
  torch::Tensor proximal;         // [N, L-1] log pi_old, tempered full softmax; undefined: each update's own forward
  torch::Tensor proximal_sampler; // [N, L-1] log pi_old as a sampler (top-k/top-p); undefined: no truncation
  torch::Tensor reference;        // [N, L-1] log pi_ref; undefined without a KL term
  std::int64_t rows = 0;          // N
  std::int64_t excluded = 0;      // rollouts left out because their grading failed
};

// Token-weighted sums of the loss diagnostics over every forward of a step: mean = sum / tokens.
struct policy_trainer::update_sums {
  double tokens = 0, clip = 0, kl = 0, weight = 0, deviation = 0, over_cap = 0, masked = 0, ratio = 0,
         ratio_deviation = 0, entropy = 0;
  void add(const model::grpo_loss_output& out) {
    tokens += out.tokens;
    clip += out.clip_fraction * out.tokens, kl += out.kl * out.tokens, weight += out.importance_weight * out.tokens;
    deviation += out.importance_weight_deviation * out.tokens, over_cap += out.over_cap_fraction * out.tokens;
    masked += out.masked_fraction * out.tokens, ratio += out.ratio_mean * out.tokens;
    ratio_deviation += out.ratio_deviation * out.tokens;
  }
  double mean(double sum) const { return tokens > 0 ? sum / tokens : 0.0; }
};

policy_trainer::grpo_rows policy_trainer::grpo_pack(const protocol::learner_batch& batch) const {
  std::vector<std::vector<std::int32_t>> prompts, completions;
  std::vector<const std::vector<float>*> behaviour;
  std::vector<float> advantages;
  grpo_rows rows;
  for (const auto& group : batch.groups) {
    for (std::size_t i = 0; i < group.rollouts.size(); ++i) {
      // A failed grade is no answer's score: no loss, and no place in the token normaliser.
      if (i < group.verdicts.size() && grading_failed(group.verdicts[i])) {
        ++rows.excluded;
        continue;
      }
      prompts.push_back(group.rollouts[i].prompt_tokens);
      completions.push_back(group.rollouts[i].completion_tokens);
      behaviour.push_back(&group.rollouts[i].behaviour_logprobs);
      advantages.push_back(group.advantages[i]);
    }
  }
  if (prompts.empty()) return rows;
  rows.data = pack(prompts, completions);
  rows.rows = rows.data.input_ids.size(0);
  const std::int64_t columns = rows.data.input_ids.size(1) - 1;
  // Behaviour log-probs in the same columns as the learner's.
  torch::Tensor b = torch::zeros({rows.rows, columns});  // [N, L-1]
  auto a = b.accessor<float, 2>();
  for (std::int64_t i = 0; i < rows.rows; ++i) {
    for (std::size_t j = 0; j < behaviour[i]->size(); ++j) a[i][rows.data.prompt_lengths[i] + j - 1] = (*behaviour[i])[j];
  }
  rows.behaviour = b.to(rows.data.input_ids.device());
  rows.advantage = torch::tensor(advantages).to(rows.data.input_ids.device());  // [N]
  return rows;
}

// pi_old (when `with_proximal`) and pi_ref, with the weights before the step, no grad, in chunks
// of a micro-batch's rows. The trainer's policy log-probs are the tempered full softmax (as AReaL
// and verl): the ratio pi_theta / pi_old and the KL live there, differentiable, no kept-set
// selection. The behaviour weight's numerator is pi_old rebuilt as a sampler (same temperature,
// top-k, top-p, renormalised) because its denominator, the generator's record, is one: a weight
// of 1 then means "no staleness" whatever the truncation. With the full softmax as numerator it
// would be Z (the kept mass) on-policy, down-weighting every token by the truncation alone.
void policy_trainer::grpo_proximal(grpo_rows& rows, bool with_proximal) {
  if (!with_proximal && !reference_) return;
  torch::NoGradGuard no_grad;
  const model::sampler_truncation* sampler = config_.sampler.active() ? &config_.sampler : nullptr;
  const std::int64_t n = rows.rows;
  const std::int64_t mini = std::max<std::int64_t>(1, std::min<std::int64_t>(config_.mini_batches, n));
  const std::int64_t chunk = std::max<std::int64_t>(1, ((n + mini - 1) / mini + config_.micro_batches - 1) / config_.micro_batches);
  std::vector<torch::Tensor> proximal, proximal_sampler, reference;
  for (std::int64_t start = 0; start < n; start += chunk) {
    const std::int64_t count = std::min(chunk, n - start);
    auto ids = rows.data.input_ids.narrow(0, start, count), valid = rows.data.attention_mask.narrow(0, start, count);
    if (with_proximal) {
      auto old = model::token_logprobs(policy_, ids, valid, config_.temperature, false, sampler);
      proximal.push_back(old.logprobs);
      if (sampler) proximal_sampler.push_back(old.sampler_logprobs);
    }
    if (reference_) reference.push_back(model::token_logprobs(reference_, ids, valid, config_.temperature).logprobs);
  }
  if (!proximal.empty()) rows.proximal = torch::cat(proximal, 0);               // [N, L-1]
  if (!proximal_sampler.empty()) rows.proximal_sampler = torch::cat(proximal_sampler, 0);  // [N, L-1]
  if (!reference.empty()) rows.reference = torch::cat(reference, 0);            // [N, L-1]
}

// Forward + loss + backward of rows [begin, begin + count) in micro-batches, each weighted by its
// share of the mini-batch so that the accumulated gradient equals one pass over it. Returns the
// mini-batch's loss. `proximal_is_current`: the step's only update, whose forward is pi_old itself.
double policy_trainer::grpo_update(const grpo_rows& rows, std::int64_t begin, std::int64_t count,
                                   bool proximal_is_current, update_sums& sums) {
  const model::sampler_truncation* sampler = config_.sampler.active() ? &config_.sampler : nullptr;
  const std::int64_t micro = std::max<std::int64_t>(1, std::min<std::int64_t>(config_.micro_batches, count));
  const std::int64_t rows_per = (count + micro - 1) / micro;
  const double mini_tokens = rows.data.completion_mask.narrow(0, begin, count).sum().item<double>();
  double loss = 0;
  for (std::int64_t start = begin; start < begin + count; start += rows_per) {
    const std::int64_t n = std::min(rows_per, begin + count - start);
    auto slice = [&](const torch::Tensor& t) { return t.narrow(0, start, n); };
    auto current = model::token_logprobs(policy_, slice(rows.data.input_ids), slice(rows.data.attention_mask),
                                         config_.temperature, config_.entropy, proximal_is_current ? sampler : nullptr);
    model::grpo_loss_inputs in;
    in.logprobs = current.logprobs;                                                     // [n, L-1]
    in.proximal_logprobs = proximal_is_current ? current.logprobs.detach() : slice(rows.proximal);
    if (proximal_is_current && sampler) in.proximal_sampler_logprobs = current.sampler_logprobs;
    if (!proximal_is_current && rows.proximal_sampler.defined()) in.proximal_sampler_logprobs = slice(rows.proximal_sampler);
    in.behaviour_logprobs = slice(rows.behaviour);
    in.advantages = slice(rows.advantage);
    in.mask = slice(rows.data.completion_mask);
    if (rows.reference.defined()) in.reference_logprobs = slice(rows.reference);
    auto out = model::grpo_loss(in, config_.loss);
    // token_mean: loss_mb = sum_mb / tokens_mb, so share = tokens_mb / tokens_mini gives sum_mini / tokens_mini.
    const double share = config_.loss.aggregation == model::loss_aggregation::token_mean
                             ? out.tokens / std::max(1.0, mini_tokens)
                             : static_cast<double>(n) / static_cast<double>(count);
    (out.loss * share).backward();
    loss += out.loss.item<double>() * share;
    sums.add(out);
    if (current.entropy.defined()) sums.entropy += (current.entropy.detach() * in.mask).sum().item<double>();
  }
  return loss;
}

metric_map policy_trainer::grpo_step(const protocol::learner_batch& batch) {
  // 1. Rows of the rollouts whose grading succeeded: tokens, behaviour log-probs and advantages.
  grpo_rows rows = grpo_pack(batch);
  metric_map metrics;
  metrics["grpo/excluded_rollouts"] = static_cast<double>(rows.excluded);
  if (rows.rows == 0) return metrics;
  // 2. Mini-batches: contiguous row ranges, the same each epoch (deterministic; no shuffle).
  const std::int64_t n = rows.rows;
  const std::int64_t mini = std::max<std::int64_t>(1, std::min<std::int64_t>(config_.mini_batches, n));
  const std::int64_t rows_per_mini = (n + mini - 1) / mini;
  const std::int64_t minis = (n + rows_per_mini - 1) / rows_per_mini;
  const std::int64_t updates = std::max<std::int64_t>(1, config_.ppo_epochs) * minis;
  // 3. pi_old once, before any update (one update needs no copy: its own forward is pi_old), and pi_ref.
  policy_->train();
  grpo_proximal(rows, updates > 1);
  // 4. Each epoch, each mini-batch: loss with ratio pi_theta / pi_old, backward, one optimizer update.
  //    The learning rate is the step's for every update; the schedule moves on after the last.
  metrics["grpo/lr"] = optimizer_->lr_at(optimizer_->steps_taken());
  update_sums sums;
  double loss = 0, grad_norm = 0;
  std::int64_t done = 0;
  for (std::uint32_t epoch = 0; epoch < std::max<std::uint32_t>(1, config_.ppo_epochs); ++epoch) {
    for (std::int64_t begin = 0; begin < n; begin += rows_per_mini) {
      loss += grpo_update(rows, begin, std::min(rows_per_mini, n - begin), updates == 1, sums);
      ++done;
      grad_norm += optimizer_->step(done == updates ? model::schedule::advance : model::schedule::hold);
    }
  }
  // 5. Diagnostics: token-weighted over every forward, loss and gradient norm averaged over updates.
  metrics["grpo/grad_norm"] = grad_norm / static_cast<double>(updates);
  metrics["grpo/loss"] = loss / static_cast<double>(updates);
  metrics["grpo/updates"] = static_cast<double>(updates);
  metrics["grpo/clip_fraction"] = sums.mean(sums.clip);
  metrics["grpo/ratio_mean"] = sums.mean(sums.ratio);
  metrics["grpo/ratio_deviation"] = sums.mean(sums.ratio_deviation);
  metrics["grpo/kl"] = sums.mean(sums.kl);
  metrics["grpo/importance_weight"] = sums.mean(sums.weight);
  metrics["grpo/importance_weight_deviation"] = sums.mean(sums.deviation);
  metrics["grpo/over_cap_fraction"] = sums.mean(sums.over_cap);
  metrics["grpo/behaviour_masked_fraction"] = sums.mean(sums.masked);
  if (config_.entropy) metrics["grpo/entropy"] = sums.mean(sums.entropy);
  metrics["grpo/tokens"] = rows.data.completion_mask.sum().item<double>();
  metrics["grpo/sequences"] = static_cast<double>(n);
  return metrics;
}

weights_ptr policy_trainer::snapshot(std::uint64_t version) {
  auto snap = std::make_shared<weights_snapshot>();
  snap->version = version;
  torch::NoGradGuard no_grad;
  for (const auto& item : policy_->named_parameters(true)) {
    snap->parameters.emplace_back(item.key(), item.value().detach().clone());
  }
  return snap;
}

}  // namespace aha::actors
