// checkpoint: a run's checkpoint folder (<run dir>/checkpoint) — a Hugging Face model folder
// (config.json, model.safetensors, tokenizer files) that transformers/vLLM and `aha eval` read,
// plus aha's optimizer.pt and trainer_state.json that `aha train --resume` reads. Written into a
// temporary folder and swapped in by rename, so a crash mid-save leaves the previous checkpoint.
// The built-in tiny model's character vocabulary has no tokenizer.json: its folder carries
// aha_tokenizer.json ({"format": "aha.tokenizer/1", "type": "char"}) instead.
// Not the training loop (controller.cpp). Tested by checkpoint.test.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/result.hpp"
#include "model/optimizer.hpp"
#include "model/tokenizer.hpp"
#include "model/transformer.hpp"

namespace aha::actors {

// trainer_state.json: where the run stood when the checkpoint was taken.
struct trainer_state {
  std::string stage;                 // the stage's kind: "sft" (complete), "grpo" (in or after it),
                                     // "rejection_sample", "distill" or "eval" (complete)
  std::uint64_t sft_steps = 0;       // SFT steps taken (all SFT stages together)
  std::uint64_t grpo_step = 0;       // GRPO steps taken in this stage (the learner's next step)
  std::uint64_t weight_version = 0;  // version of the saved weights (GRPO steps that changed them)
  // Where in the stage pipeline (pipeline/runner.hpp) the checkpoint was taken. Checkpoints
  // written before pipelines existed carry neither: stage_index -1, read as the legacy stages.
  std::int64_t stage_index = -1;     // the stage's position in the run's pipeline
  std::string stage_name;            // its name (a resume checks it against the recipe)
  bool stage_done = false;           // the stage finished: a resume starts with the next one
};

struct checkpoint_parts {
  model::transformer* policy = nullptr;            // required
  const model::optimizer* optimizer = nullptr;     // the current stage's optimizer (optimizer.pt)
  const model::tokenizer* tokenizer = nullptr;     // the char tokenizer writes aha_tokenizer.json
  std::string tokenizer_from;                      // else tokenizer files are copied from this folder
};

// Writes `dir` as a whole: everything goes to <dir>.tmp, then replaces `dir` in one rename.
status save_checkpoint(const std::string& dir, const checkpoint_parts& parts, const trainer_state& state);

// The state of the checkpoint at `dir`; nullopt when there is none (no trainer_state.json).
// Finishes an interrupted replacement first (see save_checkpoint). Errors: unreadable, wrong format.
result<std::optional<trainer_state>> read_trainer_state(const std::string& dir);

// The files that carry `tokenizer` in a model folder, by name: the character vocabulary's
// aha_tokenizer.json, else tokenizer.json and tokenizer_config.json (when present) read from the
// Hugging Face folder `from` (what a replica on another host needs: cluster/generator_host.hpp).
result<std::map<std::string, std::string>> tokenizer_files(const model::tokenizer& tokenizer, const std::string& from);

// The tokenizer of a model folder: aha_tokenizer.json's character vocabulary, else the folder's
// Hugging Face tokenizer.json.
result<std::shared_ptr<const model::tokenizer>> load_tokenizer(const std::string& dir);

}  // namespace aha::actors
