#include "marrow/gil/setup.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <unordered_map>

#include "marrow/core/error.hpp"
#include "marrow/core/random.hpp"

namespace marrow::gil {

std::vector<uint8_t> first_genes(int64_t n, int64_t below) {
  std::vector<uint8_t> f(static_cast<size_t>(n), 0);
  for (int64_t g = 0; g < below && g < n; ++g) f[g] = 1;
  return f;
}

preprocess::TokenCells restricted(const preprocess::TokenCells& cells, const std::vector<uint8_t>& keep, std::vector<int64_t>* kept_rows) {
  preprocess::TokenCells r = cells.restrict_genes(keep);
  std::vector<int64_t> rows = r.rows_with_tokens();
  if (kept_rows) *kept_rows = rows;
  return static_cast<int64_t>(rows.size()) == r.n_cells() ? r : r.select_cells(rows);
}

namespace {

std::vector<int64_t> rows_of(const AnnData& data, const std::vector<std::string>& names) {
  std::unordered_map<std::string, int64_t> index;
  for (int64_t r = 0; r < data.n_cells(); ++r) index.emplace(data.cell_names()[r], r);
  std::vector<int64_t> rows;
  for (const auto& n : names) rows.push_back(index.at(n));  // check_plan_against made sure they exist
  return rows;
}

// The vocabulary B, T0, T1, ..., its size after each stage, each stage's genes (B and Tk) and the
// gene sets: the base genes, then each stage's own genes.
void add_genes_and_sets(Setup& s) {
  const auto& stages = s.plan.stages;
  std::vector<std::string> genes = s.plan.base_genes;
  for (const auto& st : stages) {
    genes.insert(genes.end(), st.genes.begin(), st.genes.end());
    s.prefix.push_back(static_cast<int64_t>(genes.size()));
  }
  s.vocabulary = GeneVocabulary(genes);
  const int64_t v = s.vocabulary.size(), n_base = static_cast<int64_t>(s.plan.base_genes.size());
  if (n_base > 0) s.sets.push_back(GeneSet{"base genes", 0, first_genes(v, n_base), n_base});
  for (int k = 0; k < s.plan.n_stages(); ++k) {
    s.stage_genes.push_back(first_genes(v, n_base));
    int64_t start = k == 0 ? n_base : s.prefix[k - 1];
    for (int64_t g = start; g < s.prefix[k]; ++g) s.stage_genes[k][g] = 1;
    if (s.prefix[k] > start) {
      GeneSet set{stages[k].name + " genes", k, std::vector<uint8_t>(static_cast<size_t>(v), 0), s.prefix[k] - start};
      for (int64_t g = start; g < s.prefix[k]; ++g) set.member[g] = 1;
      s.sets.push_back(set);
    }
  }
}

// Training cells of each stage, seeing B and Tk only, and their class codes of `label` (replay).
void add_stage_cells(Setup& s, const RunOptions& o, const std::vector<AnnData>& files, const std::vector<preprocess::TokenCells>& tokens) {
  const auto& stages = s.plan.stages;
  const int64_t n_base = static_cast<int64_t>(s.plan.base_genes.size());
  std::map<std::string, int> label_codes;
  for (int k = 0; k < s.plan.n_stages(); ++k) {
    const AnnData& data = files[stages[k].file];
    std::vector<int64_t> rows = rows_of(data, stages[k].cells), kept;
    s.stage_cells.push_back(restricted(tokens[stages[k].file].select_cells(rows), s.stage_genes[k], &kept));
    if (kept.size() < rows.size())
      spdlog::warn("stage '{}': {} of {} cells express none of its genes and are left out", stages[k].name, rows.size() - kept.size(), rows.size());
    std::vector<int> labels;
    if (!o.label.empty()) {
      const Column& column = data.obs.require(o.label);
      for (int64_t i : kept) {
        size_t r = static_cast<size_t>(rows[i]);
        labels.push_back(column.is_missing(r) ? -1 : label_codes.emplace(column.text(r), static_cast<int>(label_codes.size())).first->second);
      }
    }
    s.stage_labels.push_back(labels);
    spdlog::info("stage {} '{}': {} training cells, {} genes of its own, {} genes in all", k, stages[k].name, s.stage_cells[k].n_cells(),
                 stages[k].genes.size(), n_base + static_cast<int64_t>(stages[k].genes.size()));
  }
}

// Evaluation: held-out cells of the set's file seeing the genes of the stage that introduced the
// set, drawn once, so every strategy and seed is scored on the same cells.
void hand_out_eval_cells(const Setup& s, const RunOptions& o, const std::vector<AnnData>& files, const std::vector<preprocess::TokenCells>& tokens,
                         const EvalCells& eval_cells) {
  for (size_t j = 0; j < s.sets.size(); ++j) {
    const GeneSet& set = s.sets[j];
    int file = s.plan.stages[set.introduced].file;
    std::vector<int64_t> rows = rows_of(files[file], s.plan.holdout[file]);
    std::vector<int64_t> sample = sample_indices(static_cast<int64_t>(rows.size()), o.eval_cells, o.seed + 17 + j);
    std::vector<int64_t> chosen;
    for (int64_t i : sample) chosen.push_back(rows[i]);
    eval_cells(set, restricted(tokens[file].select_cells(chosen), s.stage_genes[set.introduced]), s.paths[file]);
  }
}

// Up to `max` cells of `names` labelled with one of the task's classes (a seeded sample), seeing
// the stage's genes; their class indices go to y.
preprocess::TokenCells labelled_cells(const Task& task, const AnnData& data, const Column& column, const preprocess::TokenCells& tokens,
                                      const std::vector<uint8_t>& genes, const std::vector<std::string>& names, int64_t max, uint64_t seed,
                                      std::vector<int>& y) {
  std::vector<int64_t> rows = rows_of(data, names), keep;
  std::vector<int> classes;
  for (int64_t r : rows) {
    if (column.is_missing(static_cast<size_t>(r))) continue;
    auto it = std::find(task.classes.begin(), task.classes.end(), column.text(static_cast<size_t>(r)));
    if (it == task.classes.end()) continue;
    keep.push_back(r);
    classes.push_back(static_cast<int>(it - task.classes.begin()));
  }
  std::vector<int64_t> sample = sample_indices(static_cast<int64_t>(keep.size()), max, seed), chosen;
  for (int64_t i : sample) chosen.push_back(keep[i]), y.push_back(classes[i]);
  return tokens.select_cells(chosen).restrict_genes(genes);
}

// Probe tasks: fitted on (a sample of) the stage's training cells, scored on the file's held-out cells.
void add_probe_tasks(Setup& s, const RunOptions& o, const std::vector<AnnData>& files, const std::vector<preprocess::TokenCells>& tokens) {
  const auto& stages = s.plan.stages;
  for (int k = 0; k < s.plan.n_stages(); ++k) {
    if (!stages[k].task) continue;
    const ProbeTask& t = *stages[k].task;
    const int file = stages[k].file;
    const Column& column = files[file].obs.require(t.column);
    Task task;
    task.stage = k;
    task.classes = t.classes;
    if (task.classes.empty())
      for (const auto& [value, count] : column.value_counts()) task.classes.push_back(value);
    task.name = fmt::format("{}: {} ({} classes)", stages[k].name, t.column, task.classes.size());
    task.train = labelled_cells(task, files[file], column, tokens[file], s.stage_genes[k], stages[k].cells, o.probe_cells, o.seed + 41 + k,
                                task.train_y);
    task.test = labelled_cells(task, files[file], column, tokens[file], s.stage_genes[k], s.plan.holdout[file], o.eval_cells, o.seed + 43 + k,
                               task.test_y);
    if (task.train_y.size() < 2 || task.test_y.empty())
      fail("probe task '{}': {} training and {} held-out cells of its classes; it needs some of each", task.name, task.train_y.size(), task.test_y.size());
    spdlog::info("probe task '{}': {} training, {} held-out cells", task.name, task.train_y.size(), task.test_y.size());
    s.tasks.push_back(std::move(task));
  }
}

}  // namespace

Setup build_setup(const RunOptions& o, const std::vector<AnnData>& files, const std::vector<std::string>& paths, StagePlan plan,
                  const EvalCells& eval_cells) {
  Setup s;
  s.plan = std::move(plan);
  s.paths = paths;
  add_genes_and_sets(s);
  std::vector<preprocess::TokenCells> tokens;
  for (const AnnData& f : files) tokens.push_back(preprocess::tokenize(f, s.vocabulary, o.target_sum));
  add_stage_cells(s, o, files, tokens);
  hand_out_eval_cells(s, o, files, tokens, eval_cells);
  add_probe_tasks(s, o, files, tokens);
  return s;
}

}  // namespace marrow::gil
