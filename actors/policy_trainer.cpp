// SFT and GRPO optimizer steps over padded batches (actors/policy_trainer.hpp).
#include "actors/policy_trainer.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "actors/advantages.hpp"
#include "cluster/data_parallel.hpp"
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
  updated_ = false;
  // With ranks, this rank's contiguous share of the examples; the normaliser stays the batch's tokens.
  std::size_t begin = 0, end = batch.size();
  double whole_tokens = 0;
  for (const auto& example : batch) whole_tokens += static_cast<double>(example.completion.size());
  if (split()) {
    const auto w = static_cast<std::size_t>(group_->world()), r = static_cast<std::size_t>(group_->rank());
    begin = batch.size() * r / w, end = batch.size() * (r + 1) / w;
  }
  double loss_value = 0;
  policy_->train();
  if (begin < end) {
    std::vector<std::vector<std::int32_t>> prompts, completions;
    for (std::size_t i = begin; i < end; ++i) prompts.push_back(batch[i].prompt), completions.push_back(batch[i].completion);
    packed data = pack(prompts, completions);
    auto result = model::token_logprobs(policy_, data.input_ids, data.attention_mask, 1.0);
    // sft_loss is this share's token mean; weighted by its share of the batch's tokens.
    torch::Tensor loss = model::sft_loss(result.logprobs, data.completion_mask) *
                         (static_cast<double>(data.tokens) / std::max(1.0, whole_tokens));
    loss.backward();
    loss_value = loss.item<double>();
  }
  sync_gradients();
  sum_across_ranks({&loss_value});
  metric_map metrics;
  metrics["sft/lr"] = optimizer_->lr_at(optimizer_->steps_taken());
  metrics["sft/grad_norm"] = optimizer_->step();
  updated_ = true;
  metrics["sft/loss"] = loss_value;
  metrics["sft/tokens"] = whole_tokens;
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

// This rank's rows of one mini-batch, [begin, begin + count) of its grpo_rows, and the whole
// mini-batch's normaliser (every rank's rows): the loss of a share is its part of the whole's.
struct policy_trainer::mini_batch {
  std::int64_t begin = 0, count = 0;  // this rank's rows (count may be 0)
  double tokens = 0;                  // completion tokens of the whole mini-batch (token_mean)
  std::int64_t sequences = 0;         // rows of the whole mini-batch (sequence_mean)
};

// The rows this rank trains and its plan: mini-batches of `rows_per_mini` consecutive rows of the
// whole batch; with W ranks, rank r takes rows [c*r/W, c*(r+1)/W) of each mini-batch of c rows,
// kept in order (contiguous per mini-batch). Alone, all rows.
policy_trainer::grpo_rows policy_trainer::grpo_share(grpo_rows all, std::int64_t rows_per_mini,
                                                     std::vector<mini_batch>& plan) const {
  const std::int64_t n = all.rows;
  const std::int64_t w = split() ? group_->world() : 1, r = split() ? group_->rank() : 0;
  std::vector<std::int64_t> mine;
  for (std::int64_t begin = 0; begin < n; begin += rows_per_mini) {
    const std::int64_t count = std::min(rows_per_mini, n - begin);
    mini_batch mb;
    mb.tokens = all.data.completion_mask.narrow(0, begin, count).sum().item<double>();
    mb.sequences = count;
    mb.begin = static_cast<std::int64_t>(mine.size());
    for (std::int64_t i = begin + count * r / w; i < begin + count * (r + 1) / w; ++i) mine.push_back(i);
    mb.count = static_cast<std::int64_t>(mine.size()) - mb.begin;
    plan.push_back(mb);
  }
  if (w == 1) return all;
  grpo_rows rows;
  const auto device = all.data.input_ids.device();
  auto index = torch::tensor(mine, torch::kInt64).to(device);  // [n_r]
  auto pick = [&](const torch::Tensor& t) { return t.index_select(0, index); };
  rows.data.input_ids = pick(all.data.input_ids);
  rows.data.attention_mask = pick(all.data.attention_mask);
  rows.data.completion_mask = pick(all.data.completion_mask);
  for (auto i : mine) rows.data.prompt_lengths.push_back(all.data.prompt_lengths[static_cast<std::size_t>(i)]);
  rows.data.tokens = static_cast<std::int64_t>(rows.data.completion_mask.sum().item<double>());
  rows.behaviour = pick(all.behaviour);
  rows.advantage = pick(all.advantage);
  rows.rows = static_cast<std::int64_t>(mine.size());
  rows.excluded = all.excluded;
  return rows;
}

// Forward + loss + backward of this rank's rows of one mini-batch in micro-batches, each weighted
// by its share of the whole mini-batch so that the gradient summed over micro-batches (and ranks)
// equals one pass over it. Returns this rank's part of the mini-batch's loss.
// `proximal_is_current`: the step's only update, whose forward is pi_old itself.
double policy_trainer::grpo_update(const grpo_rows& rows, const mini_batch& mini, bool proximal_is_current,
                                   update_sums& sums) {
  if (mini.count == 0) return 0.0;  // this rank has no rows here; it still joins the gradient sum
  const model::sampler_truncation* sampler = config_.sampler.active() ? &config_.sampler : nullptr;
  const std::int64_t begin = mini.begin, count = mini.count;
  const std::int64_t micro = std::max<std::int64_t>(1, std::min<std::int64_t>(config_.micro_batches, count));
  const std::int64_t rows_per = (count + micro - 1) / micro;
  const double mini_tokens = mini.tokens;
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
                             : static_cast<double>(n) / static_cast<double>(mini.sequences);
    (out.loss * share).backward();
    loss += out.loss.item<double>() * share;
    sums.add(out);
    if (current.entropy.defined()) sums.entropy += (current.entropy.detach() * in.mask).sum().item<double>();
  }
  return loss;
}

metric_map policy_trainer::grpo_step(const protocol::learner_batch& batch) {
  updated_ = false;
  // 1. Rows of the rollouts whose grading succeeded: tokens, behaviour log-probs and advantages.
  grpo_rows all = grpo_pack(batch);
  metric_map metrics;
  metrics["grpo/excluded_rollouts"] = static_cast<double>(all.excluded);
  if (all.rows == 0) return metrics;  // every rank sees the same batch: all return here together
  // 2. Mini-batches: contiguous row ranges of the whole batch, the same each epoch (deterministic;
  //    no shuffle); with ranks, this rank's share of each (grpo_share).
  const std::int64_t n = all.rows;
  const std::int64_t mini = std::max<std::int64_t>(1, std::min<std::int64_t>(config_.mini_batches, n));
  const std::int64_t rows_per_mini = (n + mini - 1) / mini;
  const std::int64_t minis = (n + rows_per_mini - 1) / rows_per_mini;
  const std::int64_t updates = std::max<std::int64_t>(1, config_.ppo_epochs) * minis;
  const double whole_tokens = all.data.completion_mask.sum().item<double>();
  std::vector<mini_batch> plan;
  grpo_rows rows = grpo_share(std::move(all), rows_per_mini, plan);
  // 3. pi_old once, before any update (one update needs no copy: its own forward is pi_old), and pi_ref.
  policy_->train();
  grpo_proximal(rows, updates > 1);
  // 4. Each epoch, each mini-batch: loss with ratio pi_theta / pi_old, backward, gradients summed
  //    across ranks, one optimizer update. The learning rate is the step's for every update; the
  //    schedule moves on after the last.
  metrics["grpo/lr"] = optimizer_->lr_at(optimizer_->steps_taken());
  update_sums sums;
  double loss = 0, grad_norm = 0;
  std::int64_t done = 0;
  for (std::uint32_t epoch = 0; epoch < std::max<std::uint32_t>(1, config_.ppo_epochs); ++epoch) {
    for (const auto& mb : plan) {
      loss += grpo_update(rows, mb, updates == 1, sums);
      sync_gradients();
      ++done;
      grad_norm += optimizer_->step(done == updates ? model::schedule::advance : model::schedule::hold);
      updated_ = true;
    }
  }
  // 5. Diagnostics: token-weighted over every forward (of every rank), loss and gradient norm
  //    averaged over updates.
  sum_across_ranks({&loss, &sums.tokens, &sums.clip, &sums.kl, &sums.weight, &sums.deviation, &sums.over_cap,
                    &sums.masked, &sums.ratio, &sums.ratio_deviation, &sums.entropy});
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
  metrics["grpo/tokens"] = whole_tokens;
  metrics["grpo/sequences"] = static_cast<double>(n);
  return metrics;
}

void policy_trainer::set_group(std::shared_ptr<cluster::data_parallel_group> group) { group_ = std::move(group); }

bool policy_trainer::split() const { return group_ && group_->world() > 1; }

// Every gradient becomes its sum over the ranks (a rank without rows adds zeros); the optimizer
// then clips by the global norm and steps identically everywhere.
void policy_trainer::sync_gradients() {
  if (!split()) return;
  std::vector<torch::Tensor> grads;
  for (auto& p : policy_->parameters()) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  try {
    group_->all_reduce_sum(grads);
  } catch (...) {
    optimizer_->zero_grad();  // half-summed gradients must not reach a later update
    throw;
  }
}

void policy_trainer::sum_across_ranks(std::vector<double*> values) {
  if (!split()) return;
  auto t = torch::zeros({static_cast<std::int64_t>(values.size())}, torch::kFloat64);  // [V]
  for (std::size_t i = 0; i < values.size(); ++i) t[static_cast<std::int64_t>(i)] = *values[i];
  group_->all_reduce_sum({t});
  for (std::size_t i = 0; i < values.size(); ++i) *values[i] = t[static_cast<std::int64_t>(i)].item<double>();
}

// Weights and the reference as tensors; the optimizer's state through its own file format (the
// moments and the schedule position), as bytes: rank 0 saves, the others load.
void policy_trainer::broadcast_state() {
  if (!split()) return;
  std::vector<torch::Tensor> tensors;
  for (auto& p : policy_->parameters()) tensors.push_back(p);
  if (reference_) {
    for (auto& p : reference_->parameters()) tensors.push_back(p);
  }
  group_->broadcast(tensors, 0);
  namespace fs = std::filesystem;
  const fs::path file = fs::temp_directory_path() / ("aha-optimizer-" + std::to_string(::getpid()) + "-rank" +
                                                     std::to_string(group_->rank()) + ".pt");
  std::string bytes;
  if (group_->rank() == 0) {
    if (auto saved = optimizer_->save(file.string()); !saved) throw std::runtime_error(saved.error().message);
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  group_->broadcast_bytes(bytes, 0);
  if (group_->rank() != 0) {
    std::ofstream(file, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    auto loaded = optimizer_->load(file.string());
    std::error_code ignored;
    fs::remove(file, ignored);
    if (!loaded) throw std::runtime_error("rank " + std::to_string(group_->rank()) + ": " + loaded.error().message);
  }
  std::error_code ignored;
  fs::remove(file, ignored);
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
