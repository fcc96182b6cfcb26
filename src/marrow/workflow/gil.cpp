#include "marrow/workflow/gil.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <unordered_map>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/json_util.hpp"
#include "marrow/core/random.hpp"
#include "marrow/core/strings.hpp"
#include "marrow/eval/linear_probe.hpp"
#include "marrow/gil/metrics.hpp"
#include "marrow/gil/replay.hpp"
#include "marrow/models/exceiver.hpp"
#include "marrow/models/model_file.hpp"
#include "marrow/models/token_batching.hpp"
#include "marrow/preprocess/gene_tokens.hpp"
#include "marrow/report/svg.hpp"
#include "marrow/train/trainer.hpp"
#include "marrow/workflow/exceiver.hpp"

namespace marrow::workflow {

namespace {

using gil::Matrix;

// A gene set scored on its own: the base genes, or one stage's own genes.
struct GeneSet {
  std::string name;
  int introduced = 0;            // the stage that first trains it
  std::vector<uint8_t> member;   // per vocabulary gene
  int64_t size = 0;
};

// A labelled task tied to a stage: probe cells restricted to that stage's genes.
struct Task {
  std::string name;
  int stage = 0;
  std::vector<std::string> classes;
  preprocess::TokenCells train, test;
  std::vector<int> train_y, test_y;
};

// Everything a strategy run reads, built once per `gil run`.
struct Setup {
  gil::StagePlan plan;
  GeneVocabulary vocabulary;                      // B, T0, T1, ... in order
  std::vector<int64_t> prefix;                    // vocabulary size after stage k
  std::vector<std::vector<uint8_t>> stage_genes;  // per stage: B and Tk
  std::vector<preprocess::TokenCells> stage_cells;
  std::vector<std::vector<int>> stage_labels;     // class_balanced replay labels (-1: none)
  std::vector<GeneSet> sets;
  std::vector<std::vector<models::CellExample>> eval_examples;  // per set, fixed for every run
  std::vector<Task> tasks;
};

std::vector<int64_t> rows_of(const AnnData& data, const std::vector<std::string>& names) {
  std::unordered_map<std::string, int64_t> index;
  for (int64_t r = 0; r < data.n_cells(); ++r) index.emplace(data.cell_names()[r], r);
  std::vector<int64_t> rows;
  for (const auto& n : names) rows.push_back(index.at(n));  // check_plan_against made sure they exist
  return rows;
}

std::vector<uint8_t> flags(int64_t n, int64_t below) {
  std::vector<uint8_t> f(static_cast<size_t>(n), 0);
  for (int64_t g = 0; g < below && g < n; ++g) f[g] = 1;
  return f;
}

// Cells restricted to `keep`, without the cells left with no expressed gene.
preprocess::TokenCells restricted(const preprocess::TokenCells& cells, const std::vector<uint8_t>& keep, std::vector<int64_t>* kept_rows = nullptr) {
  preprocess::TokenCells r = cells.restrict_genes(keep);
  std::vector<int64_t> rows = r.rows_with_tokens();
  if (kept_rows) *kept_rows = rows;
  return static_cast<int64_t>(rows.size()) == r.n_cells() ? r : r.select_cells(rows);
}

Setup build_setup(const GilOptions& o, const std::vector<AnnData>& files, gil::StagePlan plan) {
  Setup s;
  s.plan = std::move(plan);
  const auto& stages = s.plan.stages;
  const int n_stages = s.plan.n_stages();
  std::vector<std::string> genes = s.plan.base_genes;
  for (const auto& st : stages) {
    genes.insert(genes.end(), st.genes.begin(), st.genes.end());
    s.prefix.push_back(static_cast<int64_t>(genes.size()));
  }
  s.vocabulary = GeneVocabulary(genes);
  const int64_t v = s.vocabulary.size(), n_base = static_cast<int64_t>(s.plan.base_genes.size());
  std::vector<preprocess::TokenCells> tokens;
  for (const AnnData& f : files) tokens.push_back(preprocess::tokenize(f, s.vocabulary, o.target_sum));

  // Gene sets: the base genes, then each stage's own genes.
  if (n_base > 0) {
    GeneSet base{"base genes", 0, flags(v, n_base), n_base};
    s.sets.push_back(base);
  }
  for (int k = 0; k < n_stages; ++k) {
    s.stage_genes.push_back(flags(v, n_base));
    int64_t start = k == 0 ? n_base : s.prefix[k - 1];
    for (int64_t g = start; g < s.prefix[k]; ++g) s.stage_genes[k][g] = 1;
    if (s.prefix[k] > start) {
      GeneSet set{stages[k].name + " genes", k, std::vector<uint8_t>(static_cast<size_t>(v), 0), s.prefix[k] - start};
      for (int64_t g = start; g < s.prefix[k]; ++g) set.member[g] = 1;
      s.sets.push_back(set);
    }
  }

  // Training cells of each stage, seeing B and Tk only.
  std::map<std::string, int> label_codes;
  for (int k = 0; k < n_stages; ++k) {
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

  // Evaluation: held-out cells of the set's file seeing the genes of the stage that introduced the
  // set; a share of their expressed genes of the set masked and predicted. Drawn once, so every
  // strategy and seed is scored on the same masked values.
  for (size_t j = 0; j < s.sets.size(); ++j) {
    const GeneSet& set = s.sets[j];
    int file = stages[set.introduced].file;
    std::vector<int64_t> rows = rows_of(files[file], s.plan.holdout[file]);
    std::vector<int64_t> sample = sample_indices(static_cast<int64_t>(rows.size()), o.eval_cells, o.seed + 17 + j);
    std::vector<int64_t> chosen;
    for (int64_t i : sample) chosen.push_back(rows[i]);
    preprocess::TokenCells view = restricted(tokens[file].select_cells(chosen), s.stage_genes[set.introduced]);
    models::MaskingOptions masking = o.masking;
    masking.mask_fraction = o.eval_mask_fraction;
    masking.unexpressed_ratio = 0;
    Rng rng(o.seed + 31 + j);
    std::vector<models::CellExample> examples;
    int64_t masked = 0;
    for (int64_t r = 0; r < view.n_cells(); ++r) {
      models::CellExample e = models::make_example(view, r, masking, rng, &set.member);
      if (e.query_genes.empty()) continue;
      masked += static_cast<int64_t>(e.query_genes.size());
      examples.push_back(std::move(e));
    }
    if (examples.empty()) fail("{}: no held-out cell expresses any of the {} genes of '{}'; nothing to score", o.data[file].path, set.size, set.name);
    spdlog::info("scoring '{}' ({} genes) on {} held-out cells, {} masked values", set.name, set.size, examples.size(), masked);
    s.eval_examples.push_back(std::move(examples));
  }

  // Probe tasks: fitted on (a sample of) the stage's training cells, scored on the file's held-out cells.
  for (int k = 0; k < n_stages; ++k) {
    if (!stages[k].task) continue;
    const gil::ProbeTask& t = *stages[k].task;
    const AnnData& data = files[stages[k].file];
    const Column& column = data.obs.require(t.column);
    Task task;
    task.stage = k;
    task.classes = t.classes;
    if (task.classes.empty())
      for (const auto& [value, count] : column.value_counts()) task.classes.push_back(value);
    task.name = fmt::format("{}: {} ({} classes)", stages[k].name, t.column, task.classes.size());
    auto labelled = [&](const std::vector<std::string>& names, int64_t max, uint64_t seed, std::vector<int>& y) {
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
      return tokens[stages[k].file].select_cells(chosen).restrict_genes(s.stage_genes[k]);
    };
    task.train = labelled(stages[k].cells, o.probe_cells, o.seed + 41 + k, task.train_y);
    task.test = labelled(s.plan.holdout[stages[k].file], o.eval_cells, o.seed + 43 + k, task.test_y);
    if (task.train_y.size() < 2 || task.test_y.empty())
      fail("probe task '{}': {} training and {} held-out cells of its classes; it needs some of each", task.name, task.train_y.size(), task.test_y.size());
    spdlog::info("probe task '{}': {} training, {} held-out cells", task.name, task.train_y.size(), task.test_y.size());
    s.tasks.push_back(std::move(task));
  }
  return s;
}

// A fresh model over the first n_genes of the vocabulary, its gene-mean baselines from `cells`.
models::Exceiver new_model(const GilOptions& o, int64_t n_genes, uint64_t seed, const preprocess::TokenCells& cells) {
  models::ExceiverOptions options = o.model;
  options.n_genes = n_genes;
  torch::manual_seed(seed);
  models::Exceiver model(options);
  auto [mean, expressed] = models::gene_value_means(cells, cells.values.cols);
  model->gene_mean.copy_(mean.narrow(0, 0, n_genes));
  model->gene_mean_expressed.copy_(expressed.narrow(0, 0, n_genes));
  return model;
}

// A frozen copy (the distillation teacher).
models::Exceiver copy_model(const models::Exceiver& m) {
  models::Exceiver c(m->options());
  torch::NoGradGuard no_grad;
  auto from = m->named_parameters();
  for (auto& p : c->named_parameters()) p.value().copy_(from[p.key()]);
  auto from_buffers = m->named_buffers();
  for (auto& b : c->named_buffers()) b.value().copy_(from_buffers[b.key()]);
  for (auto& p : c->parameters()) p.set_requires_grad(false);
  c->eval();
  return c;
}

// Initial rows for the genes [old_n, new_n) learned at this stage.
torch::Tensor new_gene_rows(const models::Exceiver& model, const std::string& init, const preprocess::TokenCells& cells, int64_t old_n,
                            int64_t new_n) {
  torch::NoGradGuard no_grad;
  const int64_t added = new_n - old_n, dim = model->options().dim;
  torch::Tensor known = model->gene_embeddings().detach();
  if (init == "random") return torch::randn({added, dim}) / std::sqrt(static_cast<double>(dim));
  torch::Tensor mean = known.mean(0, true).expand({added, dim}).clone();
  if (init == "mean") return mean;
  // coexpression: each new gene starts at the correlation-weighted mean of the rows of the 10 known
  // genes whose expression over this stage's cells correlates best with its own (the 2,000 known
  // genes expressed in most of these cells are candidates); the mean row where none correlates.
  std::vector<int64_t> nnz(static_cast<size_t>(new_n), 0);
  for (int32_t g : cells.values.indices)
    if (g < new_n) ++nnz[g];
  std::vector<int64_t> candidates(static_cast<size_t>(old_n));
  for (int64_t g = 0; g < old_n; ++g) candidates[g] = g;
  const int64_t c = std::min<int64_t>(2000, old_n);
  std::partial_sort(candidates.begin(), candidates.begin() + c, candidates.end(),
                    [&](int64_t a, int64_t b) { return nnz[a] != nnz[b] ? nnz[a] > nnz[b] : a < b; });
  candidates.resize(static_cast<size_t>(c));
  std::vector<int64_t> column(static_cast<size_t>(new_n), -1);
  for (int64_t i = 0; i < c; ++i) column[candidates[i]] = i;
  for (int64_t g = old_n; g < new_n; ++g) column[g] = c + (g - old_n);
  const int64_t n = cells.n_cells();
  torch::Tensor x = torch::zeros({n, c + added});
  auto xa = x.accessor<float, 2>();
  for (int64_t r = 0; r < n; ++r)
    for (int64_t k = cells.values.indptr[r]; k < cells.values.indptr[r + 1]; ++k) {
      int32_t g = cells.values.indices[k];
      if (g < new_n && column[g] >= 0) xa[r][column[g]] = cells.values.data[k];
    }
  x = (x - x.mean(0, true)) / x.std(0, true, true).clamp_min(1e-6);
  torch::Tensor corr = torch::mm(x.narrow(1, c, added).t(), x.narrow(1, 0, c)) / std::max<int64_t>(n - 1, 1);  // [added, c]
  auto [top, index] = corr.topk(std::min<int64_t>(10, c), 1);
  torch::Tensor weights = top.clamp_min(0);
  torch::Tensor rows = known.index_select(0, torch::tensor(candidates, torch::kInt64).index_select(0, index.reshape(-1))).view({added, -1, dim});
  torch::Tensor total = weights.sum(1, true);
  torch::Tensor weighted = (rows * weights.unsqueeze(-1)).sum(1) / total.clamp_min(1e-12);
  return torch::where(total > 0, weighted, mean);
}

// What a stage adds to the masked loss: distillation from the previous model and the EWC penalty.
struct Regularisers {
  models::Exceiver teacher{nullptr};
  torch::Tensor old_genes;  // vocabulary ids the teacher knows that this stage does not train
  double distill_lambda = 0;
  int64_t distill_queries = 0;
  std::vector<std::pair<std::string, torch::Tensor>> anchor, fisher;  // ewc
  double ewc_lambda = 0;
};

torch::Tensor ewc_penalty(models::Exceiver& model, const Regularisers& reg) {
  auto params = model->named_parameters();
  torch::Tensor penalty = torch::zeros({}, model->parameters().front().options());
  for (size_t i = 0; i < reg.anchor.size(); ++i) {
    const auto& [name, anchor] = reg.anchor[i];
    torch::Tensor p = params[name];
    if (p.dim() > 0 && p.size(0) > anchor.size(0)) p = p.narrow(0, 0, anchor.size(0));  // grown gene table: old rows only
    penalty = penalty + (reg.fisher[i].second * (p - anchor).pow(2)).sum();
  }
  return penalty;
}

torch::Tensor masked_batch_loss(models::Exceiver& model, const models::TokenBatch& b, const Regularisers& reg) {
  torch::Tensor latents = model->encode(b);
  torch::Tensor predictions = model->decode(latents, b.query_genes);
  torch::Tensor loss = model->query_loss(predictions, b).sum() / (~b.query_padding).sum().clamp_min(1);
  if (!reg.teacher.is_empty() && reg.old_genes.defined() && reg.old_genes.numel() > 0 && reg.distill_lambda > 0) {
    const int64_t batch = b.genes.size(0), known = reg.teacher->options().n_genes;
    torch::Tensor q = reg.old_genes.index_select(0, torch::randint(reg.old_genes.numel(), {batch * reg.distill_queries}, torch::kInt64))
                          .view({batch, reg.distill_queries});
    torch::Tensor target;
    {
      torch::NoGradGuard no_grad;
      // The teacher sees the tokens of the genes it knows; the stage's new genes are padding to it.
      models::TokenBatch tb = b;
      tb.padding = b.padding | (b.genes >= known);
      torch::Tensor empty = tb.padding.all(1);
      tb.padding.select(1, 0).logical_and_(~empty);  // a row of new genes only keeps one (masked-out) key
      tb.genes = b.genes.clamp_max(known - 1);
      models::Exceiver teacher = reg.teacher;  // a handle to the same frozen module
      target = teacher->decode(teacher->encode(tb), q);
    }
    loss = loss + reg.distill_lambda * (model->decode(latents, q) - target).pow(2).mean();
  }
  if (!reg.anchor.empty() && reg.ewc_lambda > 0) loss = loss + 0.5 * reg.ewc_lambda * ewc_penalty(model, reg);
  return loss;
}

bool count_targets(const GilOptions& o) { return o.model.loss != models::ReconstructionLoss::Mse; }

train::TrainResult train_stage(models::Exceiver& model, const preprocess::TokenCells& cells, const Regularisers& reg, const GilOptions& o,
                               uint64_t seed, const std::string& label) {
  train::TrainOptions t = o.train;
  t.seed = seed;
  t.checkpoint.clear();
  t.resume = false;
  t.metrics.clear();
  t.patience = 0;  // every stage trains its full budget: strategies are compared at equal steps
  t.label = label;
  const bool counts = count_targets(o);
  return train::fit(
      *model, cells.n_cells(),
      [&](const std::vector<int64_t>& rows) {
        return masked_batch_loss(model, models::to_batch(models::training_examples(cells, rows, o.masking), counts), reg);
      },
      train::ValidationLoss{}, t);
}

// Online EWC: adds this stage's diagonal empirical Fisher (mean squared gradient of the masked loss
// over mini-batches of 16 of up to fisher_cells cells) to the earlier stages' and re-anchors.
void consolidate(models::Exceiver& model, const preprocess::TokenCells& cells, const GilOptions& o, uint64_t seed, Regularisers& reg) {
  model->eval();
  std::vector<int64_t> rows = sample_indices(cells.n_cells(), o.fisher_cells, seed);
  Rng rng(seed + 1);
  std::map<std::string, torch::Tensor> fisher;
  int batches = 0;
  const Regularisers none;
  for (size_t start = 0; start < rows.size(); start += 16) {
    std::vector<models::CellExample> examples;
    for (size_t i = start; i < std::min(rows.size(), start + 16); ++i) examples.push_back(models::make_example(cells, rows[i], o.masking, rng));
    model->zero_grad();
    masked_batch_loss(model, models::to_batch(examples, count_targets(o)), none).backward();
    for (auto& p : model->named_parameters()) {
      if (!p.value().grad().defined()) continue;
      torch::Tensor g2 = p.value().grad().detach().pow(2);
      auto it = fisher.find(p.key());
      if (it == fisher.end()) fisher.emplace(p.key(), g2.clone());
      else it->second += g2;
    }
    ++batches;
  }
  model->zero_grad();
  std::map<std::string, torch::Tensor> previous(reg.fisher.begin(), reg.fisher.end());
  reg.anchor.clear();
  reg.fisher.clear();
  for (auto& p : model->named_parameters()) {
    auto it = fisher.find(p.key());
    torch::Tensor f = it == fisher.end() ? torch::zeros_like(p.value()) : it->second / std::max(batches, 1);
    auto old = previous.find(p.key());
    if (old != previous.end()) {
      if (old->second.dim() > 0 && old->second.size(0) < f.size(0)) f.narrow(0, 0, old->second.size(0)) += old->second;
      else f += old->second;
    }
    reg.anchor.emplace_back(p.key(), p.value().detach().clone());
    reg.fisher.emplace_back(p.key(), f);
  }
}

double masked_mse(models::Exceiver& model, const std::vector<models::CellExample>& examples, const GilOptions& o) {
  torch::NoGradGuard no_grad;
  model->eval();
  double sum = 0, n = 0;
  for (size_t start = 0; start < examples.size(); start += 256) {
    std::vector<models::CellExample> batch(examples.begin() + static_cast<std::ptrdiff_t>(start),
                                           examples.begin() + static_cast<std::ptrdiff_t>(std::min(examples.size(), start + 256)));
    models::TokenBatch b = models::to_batch(batch, false);
    torch::Tensor p = model->decode(model->encode(b), b.query_genes);
    if (count_targets(o)) p = torch::log1p(torch::exp(p) * o.target_sum);  // expected share of the library, normalised
    torch::Tensor real = (~b.query_padding).to(torch::kFloat);
    sum += ((p - b.targets).pow(2) * real).sum().item<double>();
    n += real.sum().item<double>();
  }
  return sum / std::max(n, 1.0);
}

eval::ProbeResult probe(models::Exceiver& model, const Task& task, int64_t known, const GilOptions& o) {
  model->eval();
  std::vector<uint8_t> keep = flags(task.train.values.cols, known);
  auto embed = [&](const preprocess::TokenCells& cells, const std::vector<int>& y, std::vector<int>& y_kept) {
    std::vector<int64_t> rows;
    preprocess::TokenCells view = restricted(cells, keep, &rows);
    for (int64_t r : rows) y_kept.push_back(y[r]);
    models::MaskingOptions whole = o.masking;  // the run's token cap; nothing masked or queried
    whole.mask_fraction = 0;
    whole.unexpressed_ratio = 0;
    return models::over_whole_cells(view, whole, 256, [&](const models::TokenBatch& b) { return models::ExceiverImpl::cell_embedding(model->encode(b)); });
  };
  std::vector<int> train_y, test_y;
  torch::Tensor train_x = embed(task.train, task.train_y, train_y), test_x = embed(task.test, task.test_y, test_y);
  return eval::linear_probe(train_x, train_y, test_x, test_y, static_cast<int>(task.classes.size()));
}

nlohmann::json matrix_json(const Matrix& m) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& row : m) {
    nlohmann::json r = nlohmann::json::array();
    for (double v : row) r.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr));
    j.push_back(r);
  }
  return j;
}

nlohmann::json numbers_json(const std::vector<double>& values) {
  nlohmann::json j = nlohmann::json::array();
  for (double v : values) j.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr));
  return j;
}

double number(const nlohmann::json& j) { return j.is_number() ? j.get<double>() : NAN; }

struct RunResult {
  Matrix mse, probe_accuracy, probe_balanced;
  double seconds = 0;
};

void save_stage_model(const Setup& s, const GilOptions& o, models::Exceiver& model, const std::string& strategy, uint64_t seed, int stage) {
  if (!o.save_models) return;
  std::vector<std::string> genes(s.vocabulary.genes().begin(), s.vocabulary.genes().begin() + model->options().n_genes);
  nlohmann::json meta = exceiver_meta(model->options(), GeneVocabulary(genes), o.target_sum, o.masking);
  meta["gil"] = {{"strategy", strategy}, {"seed", seed}, {"stage", stage}, {"stage_name", s.plan.stages[stage].name}};
  std::string dir = o.out + "/models";
  std::filesystem::create_directories(dir);
  models::save_model(fmt::format("{}/{}_seed{}_stage{}.marrow", dir, strategy, seed, stage), "exceiver", meta, *model);
}

void score_stage(Setup& s, const GilOptions& o, models::Exceiver& model, int stage, RunResult& r) {
  for (size_t j = 0; j < s.sets.size(); ++j)
    if (s.sets[j].introduced <= stage) r.mse[stage][j] = masked_mse(model, s.eval_examples[j], o);
  for (size_t t = 0; t < s.tasks.size(); ++t) {
    eval::ProbeResult p = probe(model, s.tasks[t], model->options().n_genes, o);
    r.probe_accuracy[stage][t] = p.accuracy;
    r.probe_balanced[stage][t] = p.balanced_accuracy;
  }
}

RunResult run_strategy(Setup& s, const GilOptions& o, const std::string& strategy, uint64_t seed) {
  const int n_stages = s.plan.n_stages();
  RunResult r;
  r.mse.assign(static_cast<size_t>(n_stages), std::vector<double>(s.sets.size(), NAN));
  r.probe_accuracy.assign(static_cast<size_t>(n_stages), std::vector<double>(s.tasks.size(), NAN));
  r.probe_balanced = r.probe_accuracy;
  auto started = std::chrono::steady_clock::now();
  const int64_t n_vocab = s.vocabulary.size();

  if (strategy == "joint") {
    // Every stage's cells with their own genes, the whole vocabulary from the start, as many epochs.
    preprocess::TokenCells all;
    for (const auto& c : s.stage_cells) all.append(c);
    models::Exceiver model = new_model(o, n_vocab, seed, all);
    spdlog::info("[joint seed {}] all {} stages at once: {} cells, {} genes", seed, n_stages, all.n_cells(), n_vocab);
    train_stage(model, all, Regularisers{}, o, seed * 1000 + 99, fmt::format("joint s{}", seed));
    score_stage(s, o, model, n_stages - 1, r);
    save_stage_model(s, o, model, strategy, seed, n_stages - 1);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return r;
  }

  const bool replay = strategy == "replay" || strategy == "replay_distill";
  const bool distill = strategy == "distill" || strategy == "replay_distill";
  const bool ewc = strategy == "ewc";
  models::Exceiver model = new_model(o, s.prefix[0], seed, s.stage_cells[0]);
  gil::ReplayBuffer buffer(o.replay_size, gil::parse_replay_selection(o.replay_selection), seed + 5);
  Regularisers reg;
  reg.distill_lambda = o.distill_lambda;
  reg.distill_queries = o.distill_queries;
  reg.ewc_lambda = o.ewc_lambda;
  for (int k = 0; k < n_stages; ++k) {
    if (k > 0) {
      const int64_t old_n = model->options().n_genes, new_n = s.prefix[k];
      torch::Tensor rows = new_gene_rows(model, o.init, s.stage_cells[k], old_n, new_n);
      auto [mean, expressed] = models::gene_value_means(s.stage_cells[k], n_vocab);
      model->grow_vocabulary(rows, mean.narrow(0, old_n, new_n - old_n), expressed.narrow(0, old_n, new_n - old_n));
      if (distill) {
        // Old genes = what the teacher knows that this stage does not train: earlier stages' own genes.
        std::vector<int64_t> old;
        for (int64_t g = 0; g < old_n; ++g)
          if (!s.stage_genes[k][g]) old.push_back(g);
        reg.old_genes = torch::tensor(old, torch::kInt64);
      }
    }
    preprocess::TokenCells cells = s.stage_cells[k];
    if (replay && !buffer.items().empty()) {
      std::map<int, std::vector<int64_t>> by_stage;
      for (const auto& item : buffer.items()) by_stage[item.stage].push_back(item.row);
      for (const auto& [stage, rows] : by_stage) cells.append(s.stage_cells[stage].select_cells(rows));
    }
    spdlog::info("[{} seed {}] stage {}/{} '{}': {} cells{}, {} genes known", strategy, seed, k + 1, n_stages, s.plan.stages[k].name,
                 s.stage_cells[k].n_cells(), replay && k > 0 ? fmt::format(" + {} replayed", buffer.items().size()) : "",
                 model->options().n_genes);
    train_stage(model, cells, reg, o, seed * 1000 + k, fmt::format("{} s{} stage {}", strategy, seed, k));
    score_stage(s, o, model, k, r);
    save_stage_model(s, o, model, strategy, seed, k);
    if (k + 1 == n_stages) break;
    if (replay) buffer.add_stage(k, s.stage_cells[k].n_cells(), s.stage_labels[k]);
    if (ewc) consolidate(model, s.stage_cells[k], o, seed * 1000 + 500 + k, reg);
    if (distill) reg.teacher = copy_model(model);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return r;
}

// MSE on each later stage's own genes of a model trained on that stage alone, from scratch.
std::vector<double> scratch_reference(Setup& s, const GilOptions& o, uint64_t seed) {
  std::vector<double> scratch(s.sets.size(), NAN);
  for (size_t j = 0; j < s.sets.size(); ++j) {
    int k = s.sets[j].introduced;
    if (k == 0) continue;
    models::Exceiver model = new_model(o, s.prefix[k], seed + 7919, s.stage_cells[k]);
    spdlog::info("[scratch seed {}] stage {} '{}' alone (forward-transfer reference)", seed, k, s.plan.stages[k].name);
    train_stage(model, s.stage_cells[k], Regularisers{}, o, seed * 1000 + 700 + k, fmt::format("scratch s{} stage {}", seed, k));
    scratch[j] = masked_mse(model, s.eval_examples[j], o);
  }
  return scratch;
}

std::string fmt_number(double v, int digits = 3) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, digits) : "—"; }
std::string fmt_ci(const gil::MeanCi& c, int digits = 3) {
  if (c.n == 0) return "—";
  if (!std::isfinite(c.half_width)) return fmt_number(c.mean, digits);
  return fmt::format("{:.{}f} ± {:.{}f}", c.mean, digits, c.half_width, digits);
}

std::string results_markdown(const nlohmann::json& results) {
  std::string md = "# Gene-incremental learning results\n\n";
  const auto& sets = results["gene_sets"];
  const auto& stages = results["plan"]["stages"];
  const auto& tasks = results["tasks"];
  md += fmt::format("Plan `{}`: {} stages; masked-expression MSE on held-out cells (lower is better), {} seed(s). "
                    "Forgetting of a gene set = its MSE after the last stage minus its MSE right after the stage that introduced it; "
                    "averages are over every gene set introduced before the last stage (the base stage's set is the base genes); "
                    "± is a 95% t interval over seeds.\n\n",
                    results["plan"]["spec"].get<std::string>(), stages.size(), results["settings"]["seeds"].get<int>());
  md += "| method | average forgetting | reduction vs finetune | backward transfer | forward transfer | mean final MSE | seconds per run |\n";
  md += "|---|---|---|---|---|---|---|\n";
  const auto& strategies = results["settings"]["strategies"];
  for (const auto& name_json : strategies) {
    const std::string name = name_json.get<std::string>();
    const auto& s = results["summary"][name];
    auto ci = [&](const char* key) { return gil::MeanCi{number(s[key]["mean"]), number(s[key]["ci95"]), s[key]["n"].get<int>()}; };
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {:.0f} |\n", name, name == "joint" ? "—" : fmt_ci(ci("average_forgetting"), 4),
                      s.contains("forgetting_reduction_vs_finetune") ? fmt::format("{:.0f}%", 100 * number(s["forgetting_reduction_vs_finetune"]))
                                                                      : "—",
                      name == "joint" ? "—" : fmt_ci(ci("backward_transfer"), 4), fmt_ci(ci("average_forward_transfer"), 4),
                      fmt_ci(ci("mean_final_mse"), 4), number(s["seconds"]));
  }
  // A table of one summary matrix (stage x column) per strategy, with a closing row per strategy.
  auto stage_table = [&](const std::string& title, const nlohmann::json& columns, const char* key, int digits, const std::string& closing,
                         const std::function<std::string(const nlohmann::json&, size_t)>& closing_cell) {
    md += "\n## " + title + "\n\n| method | after stage |";
    for (const auto& c : columns) md += fmt::format(" {} |", c["name"].get<std::string>());
    md += "\n|---|---|";
    for (size_t j = 0; j < columns.size(); ++j) md += "---|";
    md += "\n";
    for (const auto& name_json : strategies) {
      const std::string name = name_json.get<std::string>();
      const auto& s = results["summary"][name];
      for (size_t i = 0; i < stages.size(); ++i) {
        bool any = false;
        std::string row = fmt::format("| {} | {} |", name, stages[i]["name"].get<std::string>());
        for (size_t j = 0; j < columns.size(); ++j) {
          double v = number(s[key][i][j]);
          any |= std::isfinite(v);
          row += fmt::format(" {} |", fmt_number(v, digits));
        }
        if (any) md += row + "\n";
      }
      if (name == "joint") continue;  // one stage: nothing to compare across stages
      md += fmt::format("| {} | {} |", name, closing);
      for (size_t j = 0; j < columns.size(); ++j) md += fmt::format(" {} |", closing_cell(s, j));
      md += "\n";
    }
  };
  auto ci_cell = [](const nlohmann::json& c) { return fmt_ci({number(c["mean"]), number(c["ci95"]), c["n"].get<int>()}, 4); };
  stage_table("MSE on each gene set after each stage (mean over seeds)", sets, "mse", 4, "forgetting",
              [&](const nlohmann::json& s, size_t j) { return ci_cell(s["forgetting"][j]); });
  if (!tasks.empty())
    stage_table("Linear probe accuracy on frozen cell embeddings (held-out cells, mean over seeds)", tasks, "probe_accuracy", 3,
                "change since its stage", [&](const nlohmann::json& s, size_t t) { return fmt_number(number(s["probe_change"][t]["mean"])); });
  md += "\n![Forgetting across stages](forgetting.svg)\n";
  return md;
}

}  // namespace

gil::StagePlan gil_plan(const std::vector<DataSpec>& data, const gil::PlanOptions& options, const std::string& out) {
  if (out.empty()) fail("gil plan: --out is required");
  check_output_directory(out);
  std::vector<AnnData> files;
  std::vector<const AnnData*> pointers;
  std::vector<std::string> paths;
  for (const auto& d : data) files.push_back(load_cells(d)), paths.push_back(d.path);
  for (const auto& f : files) pointers.push_back(&f);
  gil::StagePlan plan = gil::build_plan(pointers, paths, options);
  gil::write_plan(plan, out);
  return plan;
}

nlohmann::json gil_run(const GilOptions& o) {
  if (o.out.empty()) fail("gil run: --out is required");
  if (o.data.empty()) fail("gil run: give at least one --data file");
  if (o.seeds < 1) fail("--seeds must be at least 1, got {}", o.seeds);
  if (o.strategies.empty()) fail("--strategies: give at least one");
  for (const auto& s : o.strategies)
    if (s != "finetune" && s != "replay" && s != "distill" && s != "ewc" && s != "joint" && s != "replay_distill")
      fail("--strategies: unknown strategy '{}' (finetune, replay, distill, ewc, joint, replay_distill)", s);
  if (o.init != "random" && o.init != "mean" && o.init != "coexpression") fail("--init must be random, mean or coexpression, got '{}'", o.init);
  if (o.masking.mask_fraction <= 0 || o.masking.mask_fraction >= 1) fail("--mask-fraction must be in (0, 1), got {}", o.masking.mask_fraction);
  if (o.eval_mask_fraction <= 0 || o.eval_mask_fraction >= 1) fail("--eval-mask-fraction must be in (0, 1), got {}", o.eval_mask_fraction);
  gil::parse_replay_selection(o.replay_selection);
  if (o.replay_selection == "class_balanced" && o.label.empty()) fail("--replay-selection class_balanced needs --label");
  std::filesystem::create_directories(o.out);

  std::vector<AnnData> files;
  std::vector<const AnnData*> pointers;
  std::vector<std::string> paths;
  for (const auto& d : o.data) files.push_back(load_cells(d)), paths.push_back(d.path);
  for (const auto& f : files) pointers.push_back(&f);
  gil::StagePlan plan = o.plan.empty() ? gil::build_plan(pointers, paths, o.auto_plan) : gil::read_plan(o.plan);
  gil::check_plan_against(plan, pointers);
  gil::write_plan(plan, o.out + "/plan.json");
  Setup s = build_setup(o, files, plan);
  files.clear();

  nlohmann::json sets = nlohmann::json::array(), stage_json = nlohmann::json::array(), tasks = nlohmann::json::array();
  for (const auto& set : s.sets) sets.push_back({{"name", set.name}, {"genes", set.size}, {"introduced", set.introduced}});
  for (int k = 0; k < s.plan.n_stages(); ++k)
    stage_json.push_back({{"name", s.plan.stages[k].name}, {"genes", s.plan.stages[k].genes.size()}, {"cells", s.stage_cells[k].n_cells()}});
  for (const auto& t : s.tasks) tasks.push_back({{"name", t.name}, {"stage", t.stage}});

  nlohmann::json runs = nlohmann::json::array(), scratch_json = nlohmann::json::object();
  for (int si = 0; si < o.seeds; ++si) {
    const uint64_t seed = o.seed + static_cast<uint64_t>(si);
    scratch_json[std::to_string(seed)] = numbers_json(o.forward_transfer ? scratch_reference(s, o, seed) : std::vector<double>{});
    for (const auto& strategy : o.strategies) {
      RunResult r = run_strategy(s, o, strategy, seed);
      runs.push_back({{"strategy", strategy}, {"seed", seed}, {"mse", matrix_json(r.mse)}, {"probe_accuracy", matrix_json(r.probe_accuracy)},
                      {"probe_balanced_accuracy", matrix_json(r.probe_balanced)}, {"seconds", r.seconds}});
      spdlog::info("[{} seed {}] done in {:.0f} s; MSE after the last stage: {}", strategy, seed, r.seconds,
                   join_limited([&] {
                     std::vector<std::string> v;
                     for (double x : r.mse.back()) v.push_back(fmt::format("{:.4f}", x));
                     return v;
                   }()));
    }
  }
  nlohmann::json settings = {{"seeds", o.seeds}, {"seed", o.seed}, {"strategies", o.strategies}, {"model", o.model.to_json()},
                             {"epochs_per_stage", o.train.epochs}, {"batch_size", o.train.batch_size}, {"learning_rate", o.train.learning_rate},
                             {"init", o.init}, {"replay_size", o.replay_size}, {"replay_selection", o.replay_selection},
                             {"distill_lambda", o.distill_lambda}, {"distill_queries", o.distill_queries}, {"ewc_lambda", o.ewc_lambda},
                             {"fisher_cells", o.fisher_cells}, {"eval_cells", o.eval_cells}, {"eval_mask_fraction", o.eval_mask_fraction},
                             {"mask_fraction", o.masking.mask_fraction}, {"max_tokens", o.masking.max_tokens}};
  nlohmann::json results = {{"plan", {{"spec", s.plan.spec}, {"files", paths}, {"base_genes", s.plan.base_genes.size()}, {"stages", stage_json}}},
                            {"settings", settings},
                            {"gene_sets", sets},
                            {"tasks", tasks},
                            {"scratch_mse", scratch_json},
                            {"runs", runs}};
  return gil_report(results, o.out);
}

nlohmann::json gil_report(nlohmann::json results, const std::string& dir) {
  std::vector<int> introduced;
  std::vector<int> task_stage;
  std::vector<std::string> stages;
  try {
    for (const auto& set : results.at("gene_sets")) introduced.push_back(set.at("introduced").get<int>());
    for (const auto& t : results.at("tasks")) task_stage.push_back(t.at("stage").get<int>());
    for (const auto& st : results.at("plan").at("stages")) stages.push_back(st.at("name").get<std::string>());
    results.at("runs");
    results.at("settings").at("strategies");
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not gil results ({})", dir, e.what());
  }
  // Per run: the metrics of gil/metrics.hpp from its MSE matrix and its seed's scratch reference.
  std::map<std::string, std::vector<nlohmann::json>> by_strategy;
  for (auto& run : results["runs"]) {
    const std::string strategy = run["strategy"].get<std::string>();
    Matrix mse, probe_accuracy;
    for (const auto& row : run["mse"]) {
      mse.emplace_back();
      for (const auto& v : row) mse.back().push_back(number(v));
    }
    for (const auto& row : run["probe_accuracy"]) {
      probe_accuracy.emplace_back();
      for (const auto& v : row) probe_accuracy.back().push_back(number(v));
    }
    std::vector<double> scratch;
    std::string seed_key = std::to_string(run["seed"].get<uint64_t>());
    if (results["scratch_mse"].contains(seed_key))
      for (const auto& v : results["scratch_mse"][seed_key]) scratch.push_back(number(v));
    if (strategy == "joint") {  // one row: the model after all stages at once
      run["final_mse"] = numbers_json(mse.back());
      double total = 0;
      for (double v : mse.back()) total += v;
      run["mean_final_mse"] = total / static_cast<double>(mse.back().size());
    } else {
      gil::ForgettingSummary f = gil::summarise(mse, introduced, scratch);
      run["forgetting"] = numbers_json(f.forgetting);
      run["average_forgetting"] = f.average_forgetting;
      run["backward_transfer"] = f.backward_transfer;
      run["forward_transfer"] = numbers_json(f.forward_transfer);
      run["average_forward_transfer"] = std::isfinite(f.average_forward_transfer) ? nlohmann::json(f.average_forward_transfer) : nlohmann::json(nullptr);
      run["final_mse"] = numbers_json(f.final_mse);
      run["mean_final_mse"] = f.mean_final_mse;
      run["forgetting_by_stage"] = numbers_json(f.forgetting_by_stage);
      std::vector<double> change;
      for (size_t t = 0; t < task_stage.size(); ++t) change.push_back(probe_accuracy.back()[t] - probe_accuracy[task_stage[t]][t]);
      run["probe_change"] = numbers_json(change);
    }
    by_strategy[strategy].push_back(run);
  }

  // Per strategy over seeds: means and 95% intervals.
  auto ci_json = [](const std::vector<double>& values) {
    gil::MeanCi c = gil::mean_ci(values);
    return nlohmann::json{{"mean", std::isfinite(c.mean) ? nlohmann::json(c.mean) : nlohmann::json(nullptr)},
                          {"ci95", std::isfinite(c.half_width) ? nlohmann::json(c.half_width) : nlohmann::json(nullptr)},
                          {"n", c.n}};
  };
  auto over_seeds = [&](const std::vector<nlohmann::json>& rs, const std::string& key) {
    std::vector<double> v;
    for (const auto& r : rs) v.push_back(r.contains(key) ? number(r[key]) : NAN);
    return v;
  };
  auto mean_matrix = [&](const std::vector<nlohmann::json>& rs, const std::string& key) {
    Matrix m = Matrix(rs[0][key].size(), std::vector<double>(rs[0][key].empty() ? 0 : rs[0][key][0].size(), NAN));
    for (size_t i = 0; i < m.size(); ++i)
      for (size_t j = 0; j < m[i].size(); ++j) {
        std::vector<double> v;
        for (const auto& r : rs) v.push_back(number(r[key][i][j]));
        m[i][j] = gil::mean_ci(v).mean;
      }
    return m;
  };
  std::vector<std::string> strategies;
  for (const auto& name : results["settings"]["strategies"])
    if (by_strategy.count(name.get<std::string>())) strategies.push_back(name.get<std::string>());
  nlohmann::json summary = nlohmann::json::object();
  for (const auto& strategy : strategies) {
    const auto& rs = by_strategy[strategy];
    nlohmann::json sj = {{"mse", matrix_json(mean_matrix(rs, "mse"))},
                         {"probe_accuracy", matrix_json(mean_matrix(rs, "probe_accuracy"))},
                         {"mean_final_mse", ci_json(over_seeds(rs, "mean_final_mse"))},
                         {"seconds", gil::mean_ci(over_seeds(rs, "seconds")).mean}};
    for (const char* key : {"average_forgetting", "backward_transfer", "average_forward_transfer"}) sj[key] = ci_json(over_seeds(rs, key));
    nlohmann::json per_set = nlohmann::json::array(), final_set = nlohmann::json::array(), change = nlohmann::json::array();
    for (size_t j = 0; j < introduced.size(); ++j) {
      std::vector<double> f, fin;
      for (const auto& r : rs) {
        f.push_back(r.contains("forgetting") ? number(r["forgetting"][j]) : NAN);
        fin.push_back(number(r["final_mse"][j]));
      }
      per_set.push_back(ci_json(f));
      final_set.push_back(ci_json(fin));
    }
    for (size_t t = 0; t < task_stage.size(); ++t) {
      std::vector<double> c;
      for (const auto& r : rs) c.push_back(r.contains("probe_change") ? number(r["probe_change"][t]) : NAN);
      change.push_back(ci_json(c));
    }
    sj["forgetting"] = per_set;
    sj["final_mse"] = final_set;
    sj["probe_change"] = change;
    std::vector<double> by_stage(stages.size(), NAN);
    if (strategy != "joint")
      for (size_t i = 0; i < by_stage.size(); ++i) {
        std::vector<double> v;
        for (const auto& r : rs) v.push_back(number(r["forgetting_by_stage"][i]));
        by_stage[i] = gil::mean_ci(v).mean;
      }
    sj["forgetting_by_stage"] = numbers_json(by_stage);
    summary[strategy] = sj;
  }
  if (summary.contains("finetune")) {
    double base = number(summary["finetune"]["average_forgetting"]["mean"]);
    for (auto& [name, sj] : summary.items())
      if (name != "joint" && base > 0) sj["forgetting_reduction_vs_finetune"] = 1.0 - number(sj["average_forgetting"]["mean"]) / base;
  }

  results["summary"] = summary;
  results["runs"] = nlohmann::json::array();
  for (const auto& strategy : strategies)
    for (const auto& r : by_strategy[strategy]) results["runs"].push_back(r);
  write_json_file(dir + "/results.json", results);
  write_file_atomic(dir + "/results.md", results_markdown(results));
  std::vector<report::Series> series;
  for (const auto& strategy : strategies) {
    if (strategy == "joint") continue;
    report::Series line{strategy, {}, {}};
    for (size_t i = 0; i < stages.size(); ++i) line.x.push_back(static_cast<double>(i)), line.y.push_back(number(summary[strategy]["forgetting_by_stage"][i]));
    series.push_back(line);
  }
  write_file_atomic(dir + "/forgetting.svg", report::line_chart_svg("Forgetting across stages", "after stage",
                                                                    "MSE increase on earlier gene sets", series));
  return results;
}

}  // namespace marrow::workflow
