#pragma once
// A gene-incremental stage plan (Qi et al., AAAI 2026): base genes B present in every stage, disjoint
// stage gene sets T0..TK, and the cells of each stage. Stage k trains on its own cells restricted to
// B and Tk; the model's vocabulary after stage k is B, T0, ..., Tk in that order, so growing it only
// appends rows. T0 (the base stage's own genes) is empty in the paper's setting and non-empty with
// natural panels. Held-out cells of each input file are kept out of every stage for evaluation.
//
// Plans are JSON (written by `marrow gil plan`, or by hand with gene lists per stage) and are built
// from data by a spec:
//   random          half the genes are base, the rest split evenly into `stages` sets
//   markers:COLUMN  stage k's genes best separate the k-th group of COLUMN's classes (Welch t of
//                   each class against the group's other classes, classes taking turns); base = the rest
//   panels          one stage per input file: B = the genes every file measured, Tk = file k's other genes
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "marrow/data/anndata.hpp"
#include "marrow/data/parts.hpp"

namespace marrow::gil {

// A labelled task tied to a stage: a linear probe on frozen cell embeddings predicts `column`
// among `classes` (empty: every class of the column).
struct ProbeTask {
  std::string column;
  std::vector<std::string> classes;
};

struct Stage {
  std::string name;
  int file = 0;                      // index of the input file its cells come from
  std::vector<std::string> genes;    // Tk, this stage's own genes
  std::vector<std::string> cells;    // training cells (obs names)
  std::optional<ProbeTask> task;
};

struct StagePlan {
  std::string spec;                               // how it was built ("" = by hand)
  std::vector<std::string> files;                 // the inputs it was built from, in order
  std::vector<std::string> base_genes;            // B
  std::vector<Stage> stages;                      // the base stage first
  std::vector<std::vector<std::string>> holdout;  // per file: cells kept for evaluation

  int n_stages() const { return static_cast<int>(stages.size()); }
  // Rejects overlapping gene sets, a stage after the first without genes, a stage without cells,
  // cells in two stages or in a stage and the held-out set, and a bad file index.
  void validate(const std::string& source) const;
  nlohmann::json to_json() const;
  static StagePlan from_json(const nlohmann::json& json, const std::string& source);
};

StagePlan read_plan(const std::string& path);
void write_plan(const StagePlan& plan, const std::string& path);

struct PlanOptions {
  std::string spec = "random";                       // random | markers:COLUMN | panels
  double base_ratio = 0.5;                           // random: share of genes that are base
  int stages = 2;                                    // random: new-gene stages after the base stage
  std::vector<double> cell_shares;                   // one file: per stage; default 0.5 then even
  std::vector<std::vector<std::string>> stage_classes;  // markers: each new stage's classes
  int64_t genes_per_stage = 150;                     // markers
  int64_t min_cells = 3;                             // genes expressed in fewer training cells are left out
  std::string probe_label;                           // stages without a task probe this column
  SplitChoice holdout;                     // held-out cells of each file (its test part)
  int64_t max_cells = 0;                             // per file, a seeded sample of the non-held-out cells (0: all)
};

// files: the loaded inputs (raw counts) and their paths, in stage order for panels.
StagePlan build_plan(const std::vector<const AnnData*>& files, const std::vector<std::string>& paths, const PlanOptions& options);

// Checks a plan against the inputs: as many files, every cell present, every stage's genes (and
// the base genes) measured by its file.
void check_plan_against(const StagePlan& plan, const std::vector<const AnnData*>& files);

}  // namespace marrow::gil
