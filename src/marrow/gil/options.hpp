#pragma once
// What a gene-incremental run trains and scores (torch-free): the strategies compared, how new gene
// rows start, and the model, masking, replay, distillation, EWC and evaluation settings every
// strategy shares. The choices are enums with one name table each (core/enum_names.hpp), parsed at
// the command line and written by name into results.json.
//
// Strategies:
//   finetune        train on the stage's cells only (the baseline that forgets)
//   replay          also replays a buffer of earlier stages' cells, each with its own stage's genes
//   distill         the previous stage's model, frozen, predicts old stage genes (not the new ones)
//                   for the current cells; the model matches it (MSE, weight distill_lambda)
//   ewc             elastic weight consolidation: a diagonal Fisher penalty (weight ewc_lambda) on
//                   every parameter the previous model had (old gene rows included, new rows free)
//   joint           every stage's cells with their own genes at once (the reference)
//   replay_distill  ours: replay and distillation together; the teacher also labels the replayed
//                   cells' genes of the stages they did not come from
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "marrow/core/enum_names.hpp"
#include "marrow/gil/replay.hpp"
#include "marrow/models/exceiver_options.hpp"
#include "marrow/train/train_options.hpp"

namespace marrow::gil {

enum class Strategy { Finetune, Replay, Distill, Ewc, Joint, ReplayDistill };

// How the rows of a stage's new genes start: random, the mean of the known rows, or the
// correlation-weighted mean of the rows of the known genes they are co-expressed with.
enum class GeneInit { Random, Mean, Coexpression };

struct RunOptions {
  uint64_t seed = 0;                     // evaluation and probe samples; runs use their own seeds
  models::ExceiverOptions model;         // n_genes grows with the stages
  models::MaskingOptions masking;
  double target_sum = 1e4;
  train::TrainOptions train;             // epochs per stage, batch size, learning rate
  GeneInit init = GeneInit::Mean;
  int64_t replay_size = 1000;
  ReplaySelection replay_selection = ReplaySelection::Random;
  std::string label;                     // class_balanced: the obs column to balance
  double distill_lambda = 1.0;
  int64_t distill_queries = 64;          // old genes queried per cell for distillation
  double ewc_lambda = 100.0;
  int64_t fisher_cells = 512;
  int64_t eval_cells = 2000;             // held-out cells scored per gene set (a seeded sample)
  double eval_mask_fraction = 0.15;      // of a cell's expressed genes of the set
  int64_t probe_cells = 2000;            // training cells of a task's stage that fit its probe
};

// Fails (one line) on settings no run can use: mask fractions outside (0, 1), class_balanced
// replay without a label.
void check_run_options(const RunOptions& options);

}  // namespace marrow::gil

namespace marrow {

template <>
struct EnumNames<gil::Strategy> {
  static constexpr const char* what = "strategy";
  static constexpr std::array<std::pair<gil::Strategy, const char*>, 6> table{{{gil::Strategy::Finetune, "finetune"},
                                                                               {gil::Strategy::Replay, "replay"},
                                                                               {gil::Strategy::Distill, "distill"},
                                                                               {gil::Strategy::Ewc, "ewc"},
                                                                               {gil::Strategy::Joint, "joint"},
                                                                               {gil::Strategy::ReplayDistill, "replay_distill"}}};
};

template <>
struct EnumNames<gil::GeneInit> {
  static constexpr const char* what = "new-gene initialisation";
  static constexpr std::array<std::pair<gil::GeneInit, const char*>, 3> table{
      {{gil::GeneInit::Random, "random"}, {gil::GeneInit::Mean, "mean"}, {gil::GeneInit::Coexpression, "coexpression"}}};
};

}  // namespace marrow
