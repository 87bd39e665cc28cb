// SFT and GRPO optimizer steps over padded batches (actors/policy_trainer.hpp).
#include "actors/policy_trainer.hpp"

#include <algorithm>
#include <cmath>

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

metric_map policy_trainer::grpo_step(const protocol::learner_batch& batch) {
  // 1. Flatten the groups into rows: tokens, behaviour log-probs and advantages.
  std::vector<std::vector<std::int32_t>> prompts, completions;
  std::vector<const std::vector<float>*> behaviour;
  std::vector<float> advantages;
  for (const auto& group : batch.groups) {
    for (std::size_t i = 0; i < group.rollouts.size(); ++i) {
      prompts.push_back(group.rollouts[i].prompt_tokens);
      completions.push_back(group.rollouts[i].completion_tokens);
      behaviour.push_back(&group.rollouts[i].behaviour_logprobs);
      advantages.push_back(group.advantages[i]);
    }
  }
  metric_map metrics;
  if (prompts.empty()) return metrics;
  packed data = pack(prompts, completions);
  const std::int64_t n = data.input_ids.size(0), columns = data.input_ids.size(1) - 1;

  // 2. Behaviour log-probs in the same columns as the learner's.
  torch::Tensor behaviour_logprobs = torch::zeros({n, columns});  // [N, L-1]
  auto b = behaviour_logprobs.accessor<float, 2>();
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < behaviour[i]->size(); ++j) b[i][data.prompt_lengths[i] + j - 1] = (*behaviour[i])[j];
  }
  torch::Tensor advantage = torch::tensor(advantages);  // [N]
  behaviour_logprobs = behaviour_logprobs.to(data.input_ids.device());
  advantage = advantage.to(data.input_ids.device());

  // 3. Micro-batches: forward, loss weighted by its share of the batch, backward.
  policy_->train();
  const std::int64_t micro = std::max<std::int64_t>(1, std::min<std::int64_t>(config_.micro_batches, n));
  const std::int64_t rows_per = (n + micro - 1) / micro;
  const double total_tokens = data.completion_mask.sum().item<double>();
  double loss_sum = 0, clip = 0, kl = 0, weight = 0, entropy = 0;
  for (std::int64_t start = 0; start < n; start += rows_per) {
    const std::int64_t rows = std::min(rows_per, n - start);
    auto slice = [&](const torch::Tensor& t) { return t.narrow(0, start, rows); };
    auto current = model::token_logprobs(policy_, slice(data.input_ids), slice(data.attention_mask),
                                         config_.temperature, config_.entropy);
    model::grpo_loss_inputs in;
    in.logprobs = current.logprobs;
    // One optimizer step per batch: the proximal policy is the current one (ratio 1, same gradient).
    in.proximal_logprobs = current.logprobs.detach();
    in.behaviour_logprobs = slice(behaviour_logprobs);
    in.advantages = slice(advantage);
    in.mask = slice(data.completion_mask);
    if (reference_) {
      torch::NoGradGuard no_grad;
      in.reference_logprobs = model::token_logprobs(reference_, slice(data.input_ids), slice(data.attention_mask),
                                                    config_.temperature).logprobs;
    }
    auto out = model::grpo_loss(in, config_.loss);
    const double share = config_.loss.aggregation == model::loss_aggregation::token_mean
                             ? in.mask.sum().item<double>() / std::max(1.0, total_tokens)
                             : static_cast<double>(rows) / static_cast<double>(n);
    (out.loss * share).backward();
    loss_sum += out.loss.item<double>() * share;
    clip += out.clip_fraction * share, kl += out.kl * share, weight += out.importance_weight * share;
    if (current.entropy.defined()) {
      entropy += (current.entropy.detach() * in.mask).sum().item<double>() / std::max(1.0, total_tokens);
    }
  }

  // 4. Step, and the learner's diagnostics.
  metrics["grpo/lr"] = optimizer_->lr_at(optimizer_->steps_taken());
  metrics["grpo/grad_norm"] = optimizer_->step();
  metrics["grpo/loss"] = loss_sum;
  metrics["grpo/clip_fraction"] = clip;
  metrics["grpo/kl"] = kl;
  metrics["grpo/importance_weight"] = weight;
  if (config_.entropy) metrics["grpo/entropy"] = entropy;
  metrics["grpo/tokens"] = total_tokens;
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
