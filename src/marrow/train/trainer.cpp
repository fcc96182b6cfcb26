#include "marrow/train/trainer.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/random.hpp"
#include "marrow/data/row_stream.hpp"
#include "marrow/data/selection.hpp"
#include "marrow/runtime/distributed.hpp"
#include "marrow/runtime/torch_runtime.hpp"

#include <ATen/autocast_mode.h>
#include "marrow/train/fused_adamw.hpp"
#include "marrow/train/progress.hpp"

namespace marrow::train {

namespace {

using State = std::vector<torch::Tensor>;

State snapshot(torch::nn::Module& module) {
  State state;
  for (auto& p : module.parameters(true)) state.push_back(p.detach().clone());
  for (auto& b : module.buffers(true)) state.push_back(b.detach().clone());
  return state;
}

void restore(torch::nn::Module& module, const State& state) {
  torch::NoGradGuard no_grad;
  size_t i = 0;
  for (auto& p : module.parameters(true)) p.copy_(state[i++]);
  for (auto& b : module.buffers(true)) b.copy_(state[i++]);
}

double schedule(int64_t step, int64_t total, int64_t warmup, double base) {
  if (warmup > 0 && step < warmup) return base * static_cast<double>(step + 1) / static_cast<double>(warmup);
  double progress = total > warmup ? static_cast<double>(step - warmup) / static_cast<double>(total - warmup) : 1.0;
  return base * 0.5 * (1.0 + std::cos(M_PI * std::min(progress, 1.0)));
}

// One parameter group per learning-rate factor (options.learning_rate_factors, then the rest at
// factor 1); a group's learning rate is the schedule's times its factor.
struct ParameterGroups {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  std::vector<double> factors;
};

ParameterGroups parameter_groups(torch::nn::Module& module, const TrainOptions& o) {
  std::vector<std::vector<torch::Tensor>> members(o.learning_rate_factors.size() + 1);
  for (const auto& item : module.named_parameters()) {
    size_t g = 0;
    while (g < o.learning_rate_factors.size() && item.key().rfind(o.learning_rate_factors[g].first, 0) != 0) ++g;
    members[g].push_back(item.value());
  }
  ParameterGroups p;
  for (size_t g = 0; g < members.size(); ++g) {
    if (members[g].empty()) continue;
    const double factor = g < o.learning_rate_factors.size() ? o.learning_rate_factors[g].second : 1.0;
    p.groups.emplace_back(members[g], std::make_unique<torch::optim::AdamWOptions>(
                                          torch::optim::AdamWOptions(o.learning_rate * factor).weight_decay(o.weight_decay)));
    p.factors.push_back(factor);
  }
  return p;
}

void set_learning_rate(torch::optim::AdamW& optimizer, const std::vector<double>& factors, double lr) {
  auto& groups = optimizer.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) static_cast<torch::optim::AdamWOptions&>(groups[g].options()).lr(lr * factors[g]);
}

struct Checkpoint {
  int epoch = 0;  // last completed epoch
  int best_epoch = 0;
  double best_validation = NAN;
  int bad_epochs = 0;
  std::vector<EpochRecord> history;
};

EpochRecord record_from_json(const nlohmann::json& j) {
  EpochRecord r;
  r.epoch = j.at("epoch");
  r.train_loss = j.at("train_loss");
  r.validation_loss = j.at("validation_loss").is_null() ? NAN : j.at("validation_loss").get<double>();
  r.learning_rate = j.at("learning_rate");
  r.seconds = j.at("seconds");
  r.cells_per_second = j.at("cells_per_second");
  return r;
}

void save_checkpoint(const std::string& path, const Checkpoint& c, torch::nn::Module& module,
                     torch::optim::AdamW& optimizer, const State& best, uint64_t seed) {
  nlohmann::json meta = {{"epoch", c.epoch},           {"best_epoch", c.best_epoch},
                         {"bad_epochs", c.bad_epochs}, {"seed", seed},
                         {"best_validation", std::isnan(c.best_validation) ? nlohmann::json(nullptr) : nlohmann::json(c.best_validation)}};
  for (const auto& r : c.history) meta["history"].push_back(r.to_json());
  torch::serialize::OutputArchive archive, weights, optimizer_archive, best_archive;
  archive.write("meta", c10::IValue(meta.dump()));
  module.save(weights);
  archive.write("weights", weights);
  optimizer.save(optimizer_archive);
  archive.write("optimizer", optimizer_archive);
  for (size_t i = 0; i < best.size(); ++i) best_archive.write(std::to_string(i), best[i]);
  archive.write("best", best_archive);
  AtomicOutput out(path);
  archive.save_to([&out](const void* data, size_t size) { return out.write(data, size); });
  out.commit();
}

bool load_checkpoint(const std::string& path, Checkpoint& c, torch::nn::Module& module, torch::optim::AdamW& optimizer,
                     State& best, uint64_t seed) {
  if (path.empty() || !std::filesystem::exists(path)) return false;
  try {
    torch::serialize::InputArchive archive, weights, optimizer_archive, best_archive;
    archive.load_from(path);
    c10::IValue meta_value;
    archive.read("meta", meta_value);
    nlohmann::json meta = nlohmann::json::parse(meta_value.toStringRef());
    if (meta.at("seed").get<uint64_t>() != seed)
      fail("{}: checkpoint was made with seed {}, this run uses {}", path, meta.at("seed").get<uint64_t>(), seed);
    archive.read("weights", weights);
    {
      torch::NoGradGuard no_grad;
      module.load(weights);
    }
    archive.read("optimizer", optimizer_archive);
    optimizer.load(optimizer_archive);
    archive.read("best", best_archive);
    for (size_t i = 0; i < best.size(); ++i) best_archive.read(std::to_string(i), best[i]);
    c.epoch = meta.at("epoch");
    c.best_epoch = meta.at("best_epoch");
    c.bad_epochs = meta.at("bad_epochs");
    c.best_validation = meta.at("best_validation").is_null() ? NAN : meta.at("best_validation").get<double>();
    for (const auto& r : meta.value("history", nlohmann::json::array())) c.history.push_back(record_from_json(r));
    return true;
  } catch (const c10::Error& e) {
    fail("{}: cannot resume from this checkpoint (truncated or from another model): {}", path, e.what_without_backtrace());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: checkpoint metadata is corrupt: {}", path, e.what());
  }
}

}  // namespace

nlohmann::json EpochRecord::to_json() const {
  return {{"epoch", epoch},
          {"train_loss", train_loss},
          {"validation_loss", std::isnan(validation_loss) ? nlohmann::json(nullptr) : nlohmann::json(validation_loss)},
          {"learning_rate", learning_rate},
          {"seconds", seconds},
          {"cells_per_second", cells_per_second}};
}

double evaluate_in_batches(torch::nn::Module& module, const std::vector<int64_t>& rows, int64_t batch_size,
                           const std::function<torch::Tensor(const std::vector<int64_t>&)>& batch_loss) {
  bool was_training = module.is_training();
  module.eval();
  torch::NoGradGuard no_grad;
  double mean = mean_over_batches(rows, batch_size, [&](std::span<const int64_t> batch) {
    return batch_loss(std::vector<int64_t>(batch.begin(), batch.end())).item<double>();
  });
  module.train(was_training);
  return mean;
}

namespace {

// bfloat16 autocast of a forward pass on the training device, switched off again when it ends.
class AutocastGuard {
 public:
  AutocastGuard(bool on, const torch::Device& device) : on_(on), cuda_(device.is_cuda()) {
    if (!on_) return;
    if (cuda_) {
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(true);
    } else {
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(true);
    }
  }
  ~AutocastGuard() {
    if (!on_) return;
    if (cuda_) at::autocast::set_enabled(false);
    else at::autocast::set_cpu_enabled(false);
    at::autocast::clear_cache();
  }

 private:
  bool on_, cuda_;
};

// Data parallelism: rank 0's weights on every rank, then per step one all-reduce of every gradient,
// the loss and the weight, packed into one buffer.
class GradientAverager {
 public:
  GradientAverager(torch::nn::Module& module, runtime::Distributed* group, int64_t n_train, uint64_t seed)
      : params_(module.parameters()), group_(group) {
    if (!group_) return;
    group_->check_same(static_cast<double>(n_train), "the number of training cells (the split)");
    group_->check_same(static_cast<double>(seed), "the seed");
    int64_t n = 0;
    for (auto& p : params_) n += p.numel();
    group_->check_same(static_cast<double>(n), "the model size");
    torch::NoGradGuard no_grad;
    for (auto& p : params_) {
      torch::Tensor t = p.detach().contiguous();
      group_->broadcast(t, 0);
      p.copy_(t);
    }
    for (auto& b : module.buffers()) {
      torch::Tensor t = b.detach().contiguous();
      group_->broadcast(t, 0);
      b.copy_(t);
    }
    spdlog::info("data-parallel over {} ranks: {:.2f} MB all-reduced per step", group_->world_size(),
                 static_cast<double>(4 * (n + static_cast<int64_t>(params_.size()) + 2)) / 1e6);
  }
  bool active() const { return group_ != nullptr; }
  int rank() const { return group_ ? group_->rank() : 0; }
  int world() const { return group_ ? group_->world_size() : 1; }

  // After backward of (local mean x local weight): sums gradients, losses and weights over ranks and
  // divides by the total weight. Returns the global mean loss.
  double average(double local_loss_times_weight, double local_weight) {
    // Layout: every gradient, then per parameter 1 where this rank has a gradient, then loss x weight
    // and weight. A parameter gets a gradient where any rank has one, as in one process.
    std::vector<torch::Tensor> parts;
    std::vector<float> tail;
    for (auto& p : params_) {
      parts.push_back(p.grad().defined() ? p.grad().reshape(-1) : torch::zeros({p.numel()}, p.options()));
      tail.push_back(p.grad().defined() ? 1.0f : 0.0f);
    }
    tail.push_back(static_cast<float>(local_loss_times_weight));
    tail.push_back(static_cast<float>(local_weight));
    parts.push_back(torch::tensor(tail).to(params_.front().device()));
    torch::Tensor flat = torch::cat(parts);
    group_->allreduce_sum(flat);
    const int64_t n = flat.numel(), k = static_cast<int64_t>(params_.size());
    torch::Tensor host = flat.narrow(0, n - k - 2, k + 2).cpu();
    auto ha = host.accessor<float, 1>();
    auto fa = [&](int64_t i) { return ha[i - (n - k - 2)]; };
    const double total_weight = fa(n - 1);
    const double loss = fa(n - 2) / total_weight;
    int64_t offset = 0;
    for (int64_t i = 0; i < k; ++i) {
      auto& p = params_[i];
      if (fa(n - 2 - k + i) > 0) {
        torch::Tensor g = flat.narrow(0, offset, p.numel()).view_as(p) / total_weight;
        if (p.grad().defined()) p.mutable_grad().copy_(g);
        else p.mutable_grad() = g.clone();
      }
      offset += p.numel();
    }
    return loss;
  }

 private:
  std::vector<torch::Tensor> params_;
  runtime::Distributed* group_;
};

}  // namespace

TrainResult fit(torch::nn::Module& module, int64_t n_train, const BatchLoss& batch_loss, const ValidationLoss& validation_loss,
                const TrainOptions& o, const EpochOrder& epoch_order) {
  return fit(
      module, n_train,
      [&](const std::vector<int64_t>& rows) { return WeightedLoss{batch_loss(rows), static_cast<double>(rows.size())}; },
      validation_loss, o, epoch_order);
}

namespace {

// The training rows of one epoch in visiting order: the caller's order (streamed data) or a seeded
// shuffle.
std::vector<int64_t> epoch_rows(const EpochOrder& epoch_order, uint64_t epoch_seed, int64_t n_train) {
  if (epoch_order) {
    std::vector<int64_t> order = epoch_order(epoch_seed);
    if (static_cast<int64_t>(order.size()) != n_train)
      fail("internal: the epoch order has {} rows for {} training cells", order.size(), n_train);
    return order;
  }
  Rng rng(epoch_seed);
  std::vector<int64_t> order = all_rows(n_train);
  shuffle(order, rng);
  return order;
}

// What one epoch's steps share.
struct StepContext {
  torch::nn::Module& module;
  torch::optim::AdamW& optimizer;
  const std::vector<double>& learning_rate_factors;  // of each parameter group
  GradientAverager& averager;
  const WeightedBatchLoss& batch_loss;
  const TrainOptions& o;
  torch::Device device;
};

// One optimizer step on `rows` (the global batch; each rank takes its share). Returns the batch's
// mean loss over all ranks.
double train_step(StepContext& c, std::vector<int64_t> rows, int epoch, double lr) {
  if (c.averager.active()) {  // this rank's contiguous share of the global batch
    auto [begin, end] = rank_share(static_cast<int64_t>(rows.size()), c.averager.rank(), c.averager.world());
    rows = std::vector<int64_t>(rows.begin() + begin, rows.begin() + end);
  }
  // Gradients are released rather than zeroed: backward then hands its buffers over instead of
  // filling zeros and adding into them.
  for (auto& p : c.module.parameters()) p.mutable_grad().reset();
  double value = 0;
  if (rows.empty()) {
    value = c.averager.average(0.0, 0.0);
  } else {
    WeightedLoss loss;
    {
      AutocastGuard autocast(c.o.bf16, c.device);
      loss = c.batch_loss(rows);
    }
    const double local = loss.loss.item<double>();
    if (!std::isfinite(local)) fail("{}: the loss became {} at epoch {} (learning rate {:g} too high?)", c.o.label, local, epoch, lr);
    if (c.averager.active()) {
      (loss.loss * loss.weight).backward();
      value = c.averager.average(local * loss.weight, loss.weight);
    } else {
      loss.loss.backward();
      value = local;
    }
  }
  fused_adamw_step(c.optimizer);
  return value;
}

// One pass over the training rows: the epoch's record without its validation loss.
EpochRecord train_epoch(StepContext& c, int64_t n_train, int epoch, const EpochOrder& epoch_order, Progress& progress) {
  const TrainOptions& o = c.o;
  const int64_t epoch_steps = steps_per_epoch(n_train, o.batch_size);
  const int64_t total_steps = epoch_steps * o.epochs;
  const auto warmup = static_cast<int64_t>(o.warmup_fraction * static_cast<double>(total_steps));
  c.module.train();
  torch::manual_seed(o.seed * 1000003ULL + static_cast<uint64_t>(epoch));
  const std::vector<int64_t> order = epoch_rows(epoch_order, o.seed * 7919ULL + static_cast<uint64_t>(epoch), n_train);
  progress.begin_epoch(epoch);
  const auto start = std::chrono::steady_clock::now();
  double loss_sum = 0;
  int64_t seen = 0;
  double lr = o.learning_rate;
  for (int64_t b = 0; b < epoch_steps; ++b) {
    lr = schedule((epoch - 1) * epoch_steps + b, total_steps, warmup, o.learning_rate);
    set_learning_rate(c.optimizer, c.learning_rate_factors, lr);
    std::vector<int64_t> rows(order.begin() + b * o.batch_size, order.begin() + std::min(n_train, (b + 1) * o.batch_size));
    const int64_t global_rows = static_cast<int64_t>(rows.size());
    loss_sum += train_step(c, std::move(rows), epoch, lr) * static_cast<double>(global_rows);
    seen += global_rows;
    progress.update(seen, loss_sum / static_cast<double>(seen));
  }
  EpochRecord record;
  record.epoch = epoch;
  record.train_loss = loss_sum / static_cast<double>(seen);
  record.learning_rate = lr;
  record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  record.cells_per_second = static_cast<double>(seen) / record.seconds;
  return record;
}

double validate(torch::nn::Module& module, const ValidationLoss& validation_loss) {
  module.eval();
  torch::NoGradGuard no_grad;
  const double loss = validation_loss ? validation_loss() : NAN;
  module.train();
  return loss;
}

// Early stopping tracks validation loss where there is one, else the training loss; returns whether
// this epoch is the best so far.
bool track_best(Checkpoint& state, const EpochRecord& record, double min_delta) {
  const double monitored = std::isnan(record.validation_loss) ? record.train_loss : record.validation_loss;
  if (std::isnan(state.best_validation) || monitored < state.best_validation * (1.0 - min_delta)) {
    state.best_validation = monitored;
    state.best_epoch = record.epoch;
    state.bad_epochs = 0;
    return true;
  }
  ++state.bad_epochs;
  return false;
}

void check_training_options(int64_t n_train, const TrainOptions& o) {
  if (n_train <= 0) fail("no training cells");
  if (o.epochs <= 0) fail("epochs must be positive, got {}", o.epochs);
  if (o.batch_size <= 0) fail("batch size must be positive, got {}", o.batch_size);
  if (o.min_steps < 0) fail("minimum steps must be zero or positive, got {}", o.min_steps);
}

}  // namespace

int epochs_for_steps(const TrainOptions& o, int64_t n_train) {
  if (o.min_steps <= 0 || o.batch_size <= 0 || n_train <= 0) return o.epochs;
  const int64_t per_epoch = steps_per_epoch(n_train, o.batch_size);
  const int64_t needed = o.min_steps / per_epoch + (o.min_steps % per_epoch != 0);  // rounded up, without overflow
  return static_cast<int>(std::min<int64_t>(std::max<int64_t>(o.epochs, needed), std::numeric_limits<int>::max()));
}

namespace {

// The options the loop runs with: `epochs` raised to reach `min_steps` on this many training cells.
TrainOptions with_step_budget(const TrainOptions& requested, int64_t n_train) {
  check_training_options(n_train, requested);
  TrainOptions o = requested;
  o.epochs = epochs_for_steps(requested, n_train);
  if (o.epochs > requested.epochs)
    spdlog::info("{}: {} epochs instead of {} to train at least {} steps on {} cells", o.label, o.epochs, requested.epochs,
                 o.min_steps, n_train);
  return o;
}

}  // namespace

TrainResult fit(torch::nn::Module& module, int64_t n_train, const WeightedBatchLoss& batch_loss,
                const ValidationLoss& validation_loss, const TrainOptions& requested, const EpochOrder& epoch_order) {
  const TrainOptions o = with_step_budget(requested, n_train);
  ParameterGroups groups = parameter_groups(module, o);
  torch::optim::AdamW optimizer(groups.groups, torch::optim::AdamWOptions(o.learning_rate).weight_decay(o.weight_decay));
  const torch::Device device(runtime::check_training_device(o.device, o.bf16));
  module.to(device);
  GradientAverager averager(module, o.distributed.get(), n_train, o.seed);
  const bool primary = averager.rank() == 0;
  if (o.distributed && o.batch_size < averager.world())
    fail("--batch-size {} is the global batch; it must be at least the number of ranks ({})", o.batch_size, averager.world());

  Checkpoint state;
  State best = snapshot(module);
  if (o.resume && load_checkpoint(o.checkpoint, state, module, optimizer, best, o.seed))
    spdlog::info("resuming from {} after epoch {}", o.checkpoint, state.epoch);
  else if (o.resume)
    spdlog::info("no checkpoint at {}: starting from the beginning", o.checkpoint);
  if (!o.metrics.empty() && state.epoch == 0 && primary) truncate_file(o.metrics);

  TrainResult result;
  result.history = state.history;
  Progress progress(o.label, o.epochs, n_train);
  StepContext context{module, optimizer, groups.factors, averager, batch_loss, o, device};
  int run_epochs = 0;
  for (int epoch = state.epoch + 1; epoch <= o.epochs; ++epoch) {
    if (o.patience > 0 && state.bad_epochs >= o.patience) break;
    if (o.stop_after > 0 && run_epochs >= o.stop_after) {
      result.completed = false;
      break;
    }
    EpochRecord record = train_epoch(context, n_train, epoch, epoch_order, progress);
    record.validation_loss = validate(module, validation_loss);
    progress.end_epoch(record.train_loss, record.validation_loss, record.seconds);
    if (track_best(state, record, o.min_delta)) best = snapshot(module);
    state.epoch = epoch;
    state.history.push_back(record);
    result.history.push_back(record);
    if (!o.metrics.empty() && primary) append_line(o.metrics, record.to_json().dump());
    if (!o.checkpoint.empty() && primary) save_checkpoint(o.checkpoint, state, module, optimizer, best, o.seed);
    ++run_epochs;
  }
  result.stopped_early = o.patience > 0 && state.bad_epochs >= o.patience && state.epoch < o.epochs;
  if (result.stopped_early) spdlog::info("{}: stopped early after epoch {} (best epoch {})", o.label, state.epoch, state.best_epoch);
  if (result.completed) restore(module, best);
  module.to(torch::kCPU);  // models are saved and read back on the host
  result.best_epoch = state.best_epoch;
  result.best_validation = state.best_validation;
  return result;
}

}  // namespace marrow::train
