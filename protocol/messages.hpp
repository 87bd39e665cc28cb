// The one message schema: every message aha sends between actors, over the wire and into RocksDB.
// Each type has a stable numeric id and a schema version; fields are listed once, in order, by
// its fields() function, which drives the msgpack codec (protocol/codec.hpp).
// Rules: fields are positional (a msgpack array), numeric vectors travel as little-endian `bin`
// blobs (STACK.md: 10–40× faster than int arrays); changing a field list means bumping kVersion.
// Letters in shape comments: P = prompt tokens, T = completion tokens, G = group size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace aha::protocol {

// Stable ids: never reuse or renumber one; append new types at the end.
enum class type_id : std::uint16_t {
  prompt = 1,
  rollout = 2,
  reward_verdict = 3,
  scored_group = 4,
  learner_batch = 5,
  weight_update_header = 6,
  node_registration = 7,
  sandbox_request = 8,
  sandbox_reply = 9,
};
const char* to_string(type_id id);

// A prompt handed out by the prompt source.
struct prompt {
  static constexpr type_id kTypeId = type_id::prompt;
  static constexpr std::uint16_t kVersion = 1;

  std::uint64_t id = 0;              // unique within a run: (epoch << 32) | index in the epoch
  std::string task;                  // task type: "math", "code", "countdown", ...
  std::string text;                  // the rendered prompt (template applied)
  std::vector<std::int32_t> tokens;  // [P] prompt token ids
  std::string gold;                  // reference answer (math) or target (countdown)
  std::string tests;                 // code tasks: the tests, JSON
  std::string language;              // target language for the consistency reward ("en", "zh", ...)
};
template <class V>
void fields(V& v, prompt& m) {
  v(m.id, "id"), v(m.task, "task"), v(m.text, "text"), v(m.tokens, "tokens"), v(m.gold, "gold"),
      v(m.tests, "tests"), v(m.language, "language");
}

// Why a generation stopped.
enum class finish_reason : std::uint8_t { stop_token = 0, stop_string = 1, length = 2, aborted = 3, kLast = aborted };

// One sampled completion, stamped with the weight version that produced it.
struct rollout {
  static constexpr type_id kTypeId = type_id::rollout;
  static constexpr std::uint16_t kVersion = 1;

  std::uint64_t prompt_id = 0;
  std::uint32_t sample_index = 0;                // 0..G-1 within its group
  std::vector<std::int32_t> prompt_tokens;       // [P]
  std::vector<std::int32_t> completion_tokens;   // [T]
  std::vector<float> behaviour_logprobs;         // [T] log-probs of the sampled tokens at sampling time
  std::string completion_text;                   // decoded completion
  std::uint64_t weight_version = 0;              // policy version that sampled it
  finish_reason finish = finish_reason::stop_token;
  std::uint64_t created_unix_us = 0;             // wall clock when sampling finished
  std::uint32_t generation_us = 0;               // time spent sampling this group, microseconds
  std::string generator;                         // name of the generator actor
};
template <class V>
void fields(V& v, rollout& m) {
  v(m.prompt_id, "prompt_id"), v(m.sample_index, "sample_index"), v(m.prompt_tokens, "prompt_tokens"),
      v(m.completion_tokens, "completion_tokens"), v(m.behaviour_logprobs, "behaviour_logprobs"),
      v(m.completion_text, "completion_text"), v(m.weight_version, "weight_version"), v(m.finish, "finish"),
      v(m.created_unix_us, "created_unix_us"), v(m.generation_us, "generation_us"), v(m.generator, "generator");
}

enum class reward_kind : std::uint8_t { accuracy = 0, format = 1, language = 2, length = 3, custom = 4, kLast = custom };
// A timeout or an error is a verdict (value 0, counted), never a hang or a silent zero.
enum class verdict_status : std::uint8_t { ok = 0, timeout = 1, error = 2, kLast = error };

struct reward_component {
  reward_kind kind = reward_kind::accuracy;
  float value = 0.0f;         // the component's reward, before weighting
  float weight = 1.0f;        // its weight in the total
  verdict_status status = verdict_status::ok;
  std::string detail;         // e.g. the extracted answer, or the sandbox status
};
template <class V>
void fields(V& v, reward_component& m) {
  v(m.kind, "kind"), v(m.value, "value"), v(m.weight, "weight"), v(m.status, "status"), v(m.detail, "detail");
}

// The grade of one rollout.
struct reward_verdict {
  static constexpr type_id kTypeId = type_id::reward_verdict;
  static constexpr std::uint16_t kVersion = 1;

  std::uint64_t prompt_id = 0;
  std::uint32_t sample_index = 0;
  std::vector<reward_component> components;
  float total = 0.0f;           // sum of weight * value
  std::uint32_t grading_us = 0; // wall time spent grading, microseconds
};
template <class V>
void fields(V& v, reward_verdict& m) {
  v(m.prompt_id, "prompt_id"), v(m.sample_index, "sample_index"), v(m.components, "components"),
      v(m.total, "total"), v(m.grading_us, "grading_us");
}

// A prompt's G graded rollouts with their group-relative advantages: what the replay buffer stores.
struct scored_group {
  static constexpr type_id kTypeId = type_id::scored_group;
  static constexpr std::uint16_t kVersion = 1;

  std::uint64_t group_id = 0;
  prompt source;                          // the prompt the group answers
  std::vector<rollout> rollouts;          // [G]
  std::vector<reward_verdict> verdicts;   // [G]
  std::vector<float> rewards;             // [G] total rewards
  std::vector<float> advantages;          // [G] (r - mean) / (std + eps), or r - mean (Dr. GRPO)
  std::uint64_t min_weight_version = 0;   // oldest policy version among the rollouts
  std::uint64_t created_unix_us = 0;
};
template <class V>
void fields(V& v, scored_group& m) {
  v(m.group_id, "group_id"), v(m.source, "source"), v(m.rollouts, "rollouts"), v(m.verdicts, "verdicts"),
      v(m.rewards, "rewards"), v(m.advantages, "advantages"), v(m.min_weight_version, "min_weight_version"),
      v(m.created_unix_us, "created_unix_us");
}

// What the replay buffer hands the learner for one optimizer step.
struct learner_batch {
  static constexpr type_id kTypeId = type_id::learner_batch;
  static constexpr std::uint16_t kVersion = 1;

  std::uint64_t step = 0;               // learner step this batch is for
  std::uint64_t learner_version = 0;    // weight version of the learner when it asked
  std::vector<scored_group> groups;     // each with version >= learner_version - max_staleness
};
template <class V>
void fields(V& v, learner_batch& m) {
  v(m.step, "step"), v(m.learner_version, "learner_version"), v(m.groups, "groups");
}

enum class tensor_dtype : std::uint8_t { f32 = 0, f16 = 1, bf16 = 2, i32 = 3, i64 = 4, kLast = i64 };

struct tensor_spec {
  std::string name;                 // parameter name, Hugging Face style ("model.layers.0.mlp.up_proj.weight")
  tensor_dtype dtype = tensor_dtype::f32;
  std::vector<std::int64_t> shape;
  std::uint64_t offset = 0;         // byte offset in the update's payload
  std::uint64_t size = 0;           // bytes
};
template <class V>
void fields(V& v, tensor_spec& m) {
  v(m.name, "name"), v(m.dtype, "dtype"), v(m.shape, "shape"), v(m.offset, "offset"), v(m.size, "size");
}

// Announces weights vN: the tensors follow as a payload (stream), in NCCL buckets, or in-process.
struct weight_update_header {
  static constexpr type_id kTypeId = type_id::weight_update_header;
  static constexpr std::uint16_t kVersion = 1;

  std::uint64_t version = 0;
  std::string transport;              // "snapshot" (in-process), "stream" (bytes), "nccl"
  std::vector<tensor_spec> tensors;
  std::uint64_t total_bytes = 0;
  std::uint64_t bucket_bytes = 0;     // NCCL/stream bucket size; 0 = one bucket
  std::uint32_t checksum = 0;         // CRC32C of the payload (stream transport), else 0
};
template <class V>
void fields(V& v, weight_update_header& m) {
  v(m.version, "version"), v(m.transport, "transport"), v(m.tensors, "tensors"), v(m.total_bytes, "total_bytes"),
      v(m.bucket_bytes, "bucket_bytes"), v(m.checksum, "checksum");
}

// Sent by `aha node --join` to offer a host's actors to the controller.
struct node_registration {
  static constexpr type_id kTypeId = type_id::node_registration;
  static constexpr std::uint16_t kVersion = 1;

  std::string node_id;                     // stable name of the node (hostname:pid by default)
  std::string host;
  std::uint16_t port = 0;
  std::vector<std::string> actors;         // actor kinds offered ("generator", "code_runner", ...)
  std::uint32_t cpu_cores = 0;
  std::uint32_t gpus = 0;
  std::uint64_t memory_bytes = 0;
  std::string auth_proof;                  // HMAC of node_id under the shared cluster key
};
template <class V>
void fields(V& v, node_registration& m) {
  v(m.node_id, "node_id"), v(m.host, "host"), v(m.port, "port"), v(m.actors, "actors"), v(m.cpu_cores, "cpu_cores"),
      v(m.gpus, "gpus"), v(m.memory_bytes, "memory_bytes"), v(m.auth_proof, "auth_proof");
}

// A program to run in the sandbox (the sandbox service's request).
struct sandbox_request {
  static constexpr type_id kTypeId = type_id::sandbox_request;
  static constexpr std::uint16_t kVersion = 1;

  std::uint64_t request_id = 0;
  std::string language = "python";        // key into the sandbox's language table
  std::string source;                     // program text
  std::string stdin_data;
  std::vector<std::string> args;
  std::uint32_t cpu_ms = 0;               // CPU-time limit (all threads and children); 0 = server default
  std::uint32_t wall_ms = 0;              // wall-clock limit; 0 = server default
  std::uint64_t memory_bytes = 0;         // memory limit; 0 = server default
  std::uint64_t output_bytes = 0;         // cap on stdout and on stderr each; 0 = server default
};
template <class V>
void fields(V& v, sandbox_request& m) {
  v(m.request_id, "request_id"), v(m.language, "language"), v(m.source, "source"), v(m.stdin_data, "stdin_data"),
      v(m.args, "args"), v(m.cpu_ms, "cpu_ms"), v(m.wall_ms, "wall_ms"), v(m.memory_bytes, "memory_bytes"),
      v(m.output_bytes, "output_bytes");
}

// How a sandboxed run ended. WRONG_ANSWER is added by the code reward, not the sandbox.
enum class run_status : std::uint8_t {
  ok = 0,
  runtime_error = 1,
  time_limit = 2,
  memory_limit = 3,
  output_limit = 4,
  sandbox_error = 5,
  wrong_answer = 6,
  kLast = wrong_answer
};
const char* to_string(run_status status);  // "OK", "RUNTIME_ERROR", ...

struct sandbox_reply {
  static constexpr type_id kTypeId = type_id::sandbox_reply;
  static constexpr std::uint16_t kVersion = 1;

  std::uint64_t request_id = 0;
  run_status status = run_status::sandbox_error;
  std::int32_t exit_code = -1;        // when the program exited
  std::int32_t signal = 0;            // when a signal ended it
  std::string stdout_data;
  std::string stderr_data;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  std::uint32_t cpu_ms = 0;
  std::uint32_t wall_ms = 0;
  std::uint64_t peak_memory_bytes = 0;
  std::string error;                  // SANDBOX_ERROR or a rejected request: what went wrong
};
template <class V>
void fields(V& v, sandbox_reply& m) {
  v(m.request_id, "request_id"), v(m.status, "status"), v(m.exit_code, "exit_code"), v(m.signal, "signal"),
      v(m.stdout_data, "stdout_data"), v(m.stderr_data, "stderr_data"), v(m.stdout_truncated, "stdout_truncated"),
      v(m.stderr_truncated, "stderr_truncated"), v(m.cpu_ms, "cpu_ms"), v(m.wall_ms, "wall_ms"),
      v(m.peak_memory_bytes, "peak_memory_bytes"), v(m.error, "error");
}

// Invariants across fields, checked after every decode: an empty string means consistent.
std::string check(const rollout& m);
std::string check(const scored_group& m);
std::string check(const weight_update_header& m);
template <class T>
std::string check(const T&) { return {}; }

}  // namespace aha::protocol
