#include "marrow/gil/strategies.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>

#include "marrow/core/error.hpp"
#include "marrow/core/random.hpp"
#include "marrow/eval/linear_probe.hpp"
#include "marrow/gil/replay.hpp"
#include "marrow/models/exceiver.hpp"
#include "marrow/models/model_file.hpp"
#include "marrow/models/token_batching.hpp"
#include "marrow/train/trainer.hpp"

namespace marrow::gil {

struct ExperimentState {
  RunOptions options;
  StageModels models;
  Setup setup;
  std::vector<std::vector<models::CellExample>> eval_examples;  // per set, fixed for every run
};

namespace {

using Examples = std::vector<models::CellExample>;

// A share of each held-out cell's expressed genes of the set, masked and queried.
Examples masked_examples(const GeneSet& set, size_t index, const preprocess::TokenCells& view, const std::string& path, const RunOptions& o) {
  models::MaskingOptions masking = o.masking;
  masking.mask_fraction = o.eval_mask_fraction;
  masking.unexpressed_ratio = 0;
  Rng rng(o.seed + 31 + index);
  Examples examples;
  int64_t masked = 0;
  for (int64_t r = 0; r < view.n_cells(); ++r) {
    models::CellExample e = models::make_example(view, r, masking, rng, &set.member);
    if (e.query_genes.empty()) continue;
    masked += static_cast<int64_t>(e.query_genes.size());
    examples.push_back(std::move(e));
  }
  if (examples.empty()) fail("{}: no held-out cell expresses any of the {} genes of '{}'; nothing to score", path, set.size, set.name);
  spdlog::info("scoring '{}' ({} genes) on {} held-out cells, {} masked values", set.name, set.size, examples.size(), masked);
  return examples;
}

// A fresh model over the first n_genes of the vocabulary, its gene-mean baselines from `cells`.
models::Exceiver new_model(const RunOptions& o, int64_t n_genes, uint64_t seed, const preprocess::TokenCells& cells) {
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

// Cells x (candidate known genes, then the new genes [old_n, new_n)): expression over `cells`,
// standardised per column. The candidates are the (up to) 2,000 known genes expressed in most cells.
torch::Tensor standardised_expression(const preprocess::TokenCells& cells, int64_t old_n, int64_t new_n, std::vector<int64_t>& candidates) {
  std::vector<int64_t> nnz(static_cast<size_t>(new_n), 0);
  for (int32_t g : cells.values.indices)
    if (g < new_n) ++nnz[g];
  candidates.resize(static_cast<size_t>(old_n));
  for (int64_t g = 0; g < old_n; ++g) candidates[g] = g;
  const int64_t c = std::min<int64_t>(2000, old_n), added = new_n - old_n;
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
  return (x - x.mean(0, true)) / x.std(0, true, true).clamp_min(1e-6);
}

// coexpression: each new gene starts at the correlation-weighted mean of the rows of the 10 known
// genes whose expression over this stage's cells correlates best with its own (the 2,000 known
// genes expressed in most of these cells are candidates); the mean row where none correlates.
torch::Tensor coexpression_rows(const torch::Tensor& known, const torch::Tensor& mean, const preprocess::TokenCells& cells, int64_t old_n,
                                int64_t new_n) {
  const int64_t added = new_n - old_n, dim = known.size(1);
  std::vector<int64_t> candidates;
  torch::Tensor x = standardised_expression(cells, old_n, new_n, candidates);
  const int64_t c = static_cast<int64_t>(candidates.size()), n = cells.n_cells();
  torch::Tensor corr = torch::mm(x.narrow(1, c, added).t(), x.narrow(1, 0, c)) / std::max<int64_t>(n - 1, 1);  // [added, c]
  auto [top, index] = corr.topk(std::min<int64_t>(10, c), 1);
  torch::Tensor weights = top.clamp_min(0);
  torch::Tensor rows = known.index_select(0, torch::tensor(candidates, torch::kInt64).index_select(0, index.reshape(-1))).view({added, -1, dim});
  torch::Tensor total = weights.sum(1, true);
  torch::Tensor weighted = (rows * weights.unsqueeze(-1)).sum(1) / total.clamp_min(1e-12);
  return torch::where(total > 0, weighted, mean);
}

// Initial rows for the genes [old_n, new_n) learned at this stage.
torch::Tensor new_gene_rows(const models::Exceiver& model, GeneInit init, const preprocess::TokenCells& cells, int64_t old_n, int64_t new_n) {
  torch::NoGradGuard no_grad;
  const int64_t added = new_n - old_n, dim = model->options().dim;
  torch::Tensor known = model->gene_embeddings().detach();
  if (init == GeneInit::Random) return torch::randn({added, dim}) / std::sqrt(static_cast<double>(dim));
  torch::Tensor mean = known.mean(0, true).expand({added, dim}).clone();
  if (init == GeneInit::Mean) return mean;
  return coexpression_rows(known, mean, cells, old_n, new_n);
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

// The distillation term: the model's predictions of distill_queries old genes per cell against the
// frozen teacher's.
torch::Tensor distillation_loss(models::Exceiver& model, const models::TokenBatch& b, const torch::Tensor& latents, const Regularisers& reg) {
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
  return reg.distill_lambda * (model->decode(latents, q) - target).pow(2).mean();
}

torch::Tensor masked_batch_loss(models::Exceiver& model, const models::TokenBatch& b, const Regularisers& reg) {
  torch::Tensor latents = model->encode(b);
  torch::Tensor predictions = model->decode(latents, b.query_genes);
  torch::Tensor loss = model->query_loss(predictions, b).sum() / (~b.query_padding).sum().clamp_min(1);
  if (!reg.teacher.is_empty() && reg.old_genes.defined() && reg.old_genes.numel() > 0 && reg.distill_lambda > 0)
    loss = loss + distillation_loss(model, b, latents, reg);
  if (!reg.anchor.empty() && reg.ewc_lambda > 0) loss = loss + 0.5 * reg.ewc_lambda * ewc_penalty(model, reg);
  return loss;
}

bool count_targets(const RunOptions& o) { return o.model.loss != models::ReconstructionLoss::Mse; }

train::TrainResult train_stage(models::Exceiver& model, const preprocess::TokenCells& cells, const Regularisers& reg, const RunOptions& o,
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

// This stage's diagonal empirical Fisher: the mean squared gradient of the masked loss over
// mini-batches of 16 of up to fisher_cells cells, per parameter name.
std::map<std::string, torch::Tensor> empirical_fisher(models::Exceiver& model, const preprocess::TokenCells& cells, const RunOptions& o,
                                                      uint64_t seed) {
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
  for (auto& [name, f] : fisher) f /= std::max(batches, 1);
  return fisher;
}

// Online EWC: adds this stage's Fisher to the earlier stages' (on the rows they had) and re-anchors.
void consolidate(models::Exceiver& model, const preprocess::TokenCells& cells, const RunOptions& o, uint64_t seed, Regularisers& reg) {
  std::map<std::string, torch::Tensor> fisher = empirical_fisher(model, cells, o, seed);
  std::map<std::string, torch::Tensor> previous(reg.fisher.begin(), reg.fisher.end());
  reg.anchor.clear();
  reg.fisher.clear();
  for (auto& p : model->named_parameters()) {
    auto it = fisher.find(p.key());
    torch::Tensor f = it == fisher.end() ? torch::zeros_like(p.value()) : it->second;
    auto old = previous.find(p.key());
    if (old != previous.end()) {
      if (old->second.dim() > 0 && old->second.size(0) < f.size(0)) f.narrow(0, 0, old->second.size(0)) += old->second;
      else f += old->second;
    }
    reg.anchor.emplace_back(p.key(), p.value().detach().clone());
    reg.fisher.emplace_back(p.key(), f);
  }
}

double masked_mse(models::Exceiver& model, const Examples& examples, const RunOptions& o) {
  torch::NoGradGuard no_grad;
  model->eval();
  double sum = 0, n = 0;
  for (size_t start = 0; start < examples.size(); start += 256) {
    Examples batch(examples.begin() + static_cast<std::ptrdiff_t>(start),
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

// A linear probe on the model's frozen embeddings of the task's cells, seeing the genes it knows.
eval::ProbeResult probe(models::Exceiver& model, const Task& task, int64_t known, const RunOptions& o) {
  model->eval();
  std::vector<uint8_t> keep = first_genes(task.train.values.cols, known);
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

// Strategies that replay earlier cells, and that distil from the previous stage's model.
bool replays(Strategy s) { return s == Strategy::Replay || s == Strategy::ReplayDistill; }
bool distills(Strategy s) { return s == Strategy::Distill || s == Strategy::ReplayDistill; }

// The gene ids the teacher knows that stage k does not train: earlier stages' own genes.
torch::Tensor old_stage_genes(const Setup& s, int k, int64_t old_n) {
  std::vector<int64_t> old;
  for (int64_t g = 0; g < old_n; ++g)
    if (!s.stage_genes[k][g]) old.push_back(g);
  return torch::tensor(old, torch::kInt64);
}

// Stage k's cells, and with replay the buffer's cells, each with its own stage's genes.
preprocess::TokenCells stage_training_cells(const Setup& s, int k, const ReplayBuffer* buffer) {
  preprocess::TokenCells cells = s.stage_cells[k];
  if (!buffer || buffer->items().empty()) return cells;
  std::map<int, std::vector<int64_t>> by_stage;
  for (const auto& item : buffer->items()) by_stage[item.stage].push_back(item.row);
  for (const auto& [stage, rows] : by_stage) cells.append(s.stage_cells[stage].select_cells(rows));
  return cells;
}

RunResult unscored(const Setup& s) {
  RunResult r;
  const size_t n_stages = static_cast<size_t>(s.plan.n_stages());
  r.mse.assign(n_stages, std::vector<double>(s.sets.size(), NAN));
  r.probe_accuracy.assign(n_stages, std::vector<double>(s.tasks.size(), NAN));
  r.probe_balanced = r.probe_accuracy;
  return r;
}

double seconds_since(std::chrono::steady_clock::time_point started) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

// The steps of one run, with the state every run shares.
class StageSteps {
 public:
  explicit StageSteps(ExperimentState& state) : st_(state), s_(state.setup), o_(state.options) {}

  void save(models::Exceiver& model, Strategy strategy, uint64_t seed, int stage) {
    if (st_.models.dir.empty()) return;
    std::vector<std::string> genes(s_.vocabulary.genes().begin(), s_.vocabulary.genes().begin() + model->options().n_genes);
    nlohmann::json meta = st_.models.meta(model->options(), GeneVocabulary(genes));
    meta["gil"] = {{"strategy", enum_name(strategy)}, {"seed", seed}, {"stage", stage}, {"stage_name", s_.plan.stages[stage].name}};
    std::filesystem::create_directories(st_.models.dir);
    models::save_model(fmt::format("{}/{}_seed{}_stage{}.marrow", st_.models.dir, enum_name(strategy), seed, stage), "exceiver", meta, *model);
  }

  void score(models::Exceiver& model, int stage, RunResult& r) {
    for (size_t j = 0; j < s_.sets.size(); ++j)
      if (s_.sets[j].introduced <= stage) r.mse[stage][j] = masked_mse(model, st_.eval_examples[j], o_);
    for (size_t t = 0; t < s_.tasks.size(); ++t) {
      eval::ProbeResult p = probe(model, s_.tasks[t], model->options().n_genes, o_);
      r.probe_accuracy[stage][t] = p.accuracy;
      r.probe_balanced[stage][t] = p.balanced_accuracy;
    }
  }

  // Every stage's cells with their own genes, the whole vocabulary from the start, as many epochs.
  RunResult joint(uint64_t seed) {
    RunResult r = unscored(s_);
    auto started = std::chrono::steady_clock::now();
    const int n_stages = s_.plan.n_stages();
    preprocess::TokenCells all;
    for (const auto& c : s_.stage_cells) all.append(c);
    models::Exceiver model = new_model(o_, s_.vocabulary.size(), seed, all);
    spdlog::info("[joint seed {}] all {} stages at once: {} cells, {} genes", seed, n_stages, all.n_cells(), s_.vocabulary.size());
    train_stage(model, all, Regularisers{}, o_, seed * 1000 + 99, fmt::format("joint s{}", seed));
    score(model, n_stages - 1, r);
    save(model, Strategy::Joint, seed, n_stages - 1);
    r.seconds = seconds_since(started);
    return r;
  }

  // Appends stage k's genes to the model's vocabulary (rows from init, baselines from its cells).
  void grow(models::Exceiver& model, int k, bool distill, Regularisers& reg) {
    const int64_t old_n = model->options().n_genes, new_n = s_.prefix[k];
    torch::Tensor rows = new_gene_rows(model, o_.init, s_.stage_cells[k], old_n, new_n);
    auto [mean, expressed] = models::gene_value_means(s_.stage_cells[k], s_.vocabulary.size());
    model->grow_vocabulary(rows, mean.narrow(0, old_n, new_n - old_n), expressed.narrow(0, old_n, new_n - old_n));
    if (distill) reg.old_genes = old_stage_genes(s_, k, old_n);
  }

  // The stages one after another: grow, train (with replayed cells and regularisers), score, save,
  // then remember the stage for the next (replay buffer, Fisher, teacher).
  RunResult incremental(Strategy strategy, uint64_t seed) {
    RunResult r = unscored(s_);
    auto started = std::chrono::steady_clock::now();
    const int n_stages = s_.plan.n_stages();
    const bool replay = replays(strategy), distill = distills(strategy), ewc = strategy == Strategy::Ewc;
    const char* name = enum_name(strategy);
    models::Exceiver model = new_model(o_, s_.prefix[0], seed, s_.stage_cells[0]);
    ReplayBuffer buffer(o_.replay_size, o_.replay_selection, seed + 5);
    Regularisers reg;
    reg.distill_lambda = o_.distill_lambda;
    reg.distill_queries = o_.distill_queries;
    reg.ewc_lambda = o_.ewc_lambda;
    for (int k = 0; k < n_stages; ++k) {
      if (k > 0) grow(model, k, distill, reg);
      preprocess::TokenCells cells = stage_training_cells(s_, k, replay ? &buffer : nullptr);
      spdlog::info("[{} seed {}] stage {}/{} '{}': {} cells{}, {} genes known", name, seed, k + 1, n_stages, s_.plan.stages[k].name,
                   s_.stage_cells[k].n_cells(), replay && k > 0 ? fmt::format(" + {} replayed", buffer.items().size()) : "",
                   model->options().n_genes);
      train_stage(model, cells, reg, o_, seed * 1000 + k, fmt::format("{} s{} stage {}", name, seed, k));
      score(model, k, r);
      save(model, strategy, seed, k);
      if (k + 1 == n_stages) break;
      if (replay) buffer.add_stage(k, s_.stage_cells[k].n_cells(), s_.stage_labels[k]);
      if (ewc) consolidate(model, s_.stage_cells[k], o_, seed * 1000 + 500 + k, reg);
      if (distill) reg.teacher = copy_model(model);
    }
    r.seconds = seconds_since(started);
    return r;
  }

  std::vector<double> scratch(uint64_t seed) {
    std::vector<double> scratch(s_.sets.size(), NAN);
    for (size_t j = 0; j < s_.sets.size(); ++j) {
      int k = s_.sets[j].introduced;
      if (k == 0) continue;
      models::Exceiver model = new_model(o_, s_.prefix[k], seed + 7919, s_.stage_cells[k]);
      spdlog::info("[scratch seed {}] stage {} '{}' alone (forward-transfer reference)", seed, k, s_.plan.stages[k].name);
      train_stage(model, s_.stage_cells[k], Regularisers{}, o_, seed * 1000 + 700 + k, fmt::format("scratch s{} stage {}", seed, k));
      scratch[j] = masked_mse(model, st_.eval_examples[j], o_);
    }
    return scratch;
  }

 private:
  ExperimentState& st_;
  const Setup& s_;
  const RunOptions& o_;
};

}  // namespace

Experiment::Experiment(const RunOptions& options, const std::vector<AnnData>& files, const std::vector<std::string>& paths, StagePlan plan,
                       StageModels models)
    : state_(std::make_unique<ExperimentState>()) {
  state_->options = options;
  state_->models = std::move(models);
  state_->setup = build_setup(options, files, paths, std::move(plan),
                              [this](const GeneSet& set, const preprocess::TokenCells& cells, const std::string& path) {
                                const size_t index = state_->eval_examples.size();
                                state_->eval_examples.push_back(masked_examples(set, index, cells, path, state_->options));
                              });
}

Experiment::~Experiment() = default;

const Setup& Experiment::setup() const { return state_->setup; }

RunResult Experiment::run(Strategy strategy, uint64_t seed) {
  StageSteps steps(*state_);
  return strategy == Strategy::Joint ? steps.joint(seed) : steps.incremental(strategy, seed);
}

std::vector<double> Experiment::scratch_reference(uint64_t seed) { return StageSteps(*state_).scratch(seed); }

}  // namespace marrow::gil
