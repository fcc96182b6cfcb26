#include "marrow/workflow/cv.hpp"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <numeric>
#include <set>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/json_util.hpp"
#include "marrow/data/selection.hpp"
#include "marrow/eval/comparison.hpp"
#include "marrow/report/cv_report.hpp"
#include "marrow/workflow/prepare.hpp"

namespace marrow::workflow {

namespace {

constexpr const char* kPcaBaseline = "pca";
constexpr const char* kHvgBaseline = "hvg_lr";
const std::vector<std::string> kComparedMetrics = {"auroc", "average_precision", "balanced_accuracy", "macro_f1"};

// One fold of one seed: the split every step of it reads.
struct FoldRun {
  uint64_t seed = 0;
  int64_t fold = 0;
  Split split;
  std::string name() const { return fmt::format("seed{}_fold{}", seed, fold); }
};

// What a task's classifiers read: the embedding under each configured head, and the two baselines.
struct CvModel {
  std::string name;
  models::ClassifierFeatures features;
  models::Head head;
  FinetuneChoice finetune;  // fine-tuned models: the fold's pretrained encoder
};

std::vector<CvModel> models_of(const TaskConfig& task, const std::string& pretrained) {
  std::vector<CvModel> models;
  for (models::Head head : task.heads)
    models.push_back({fmt::format("autoencoder_{}", head), models::ClassifierFeatures::from_option("X_marrow"), head, {}});
  for (models::Head head : task.finetune_heads) {
    models.push_back({fmt::format("finetuned_{}", head), models::ClassifierFeatures::autoencoder(), head, {pretrained, false}});
    models.push_back({fmt::format("scratch_{}", head), models::ClassifierFeatures::autoencoder(), head, {pretrained, true}});
    models.push_back({fmt::format("hvg_{}", head), {models::FeatureKind::Hvg, ""}, head, {}});
  }
  models.push_back({kPcaBaseline, {models::FeatureKind::Pca, ""}, models::Head::Linear, {}});
  models.push_back({kHvgBaseline, {models::FeatureKind::Hvg, ""}, models::Head::Linear, {}});
  return models;
}

PipelineConfig with_seed(PipelineConfig c, uint64_t seed) {
  c.seed = c.split.seed = c.pretrain.seed = c.classify.seed = seed;
  return c;
}

// Every seed's folds, in the order they run.
std::vector<FoldRun> plan_folds(const CvConfig& c, const DataFrame& obs) {
  std::vector<FoldRun> runs;
  for (uint64_t seed : c.seeds) {
    FoldOptions options = c.folds;
    options.seed = seed;
    std::vector<Split> splits = group_folds(obs, options);
    for (size_t k = 0; k < splits.size(); ++k) runs.push_back({seed, static_cast<int64_t>(k), std::move(splits[k])});
  }
  return runs;
}

// Each class of a task's label that a fold tests must be among its training cells; otherwise the
// fold cannot score it and the config needs fewer folds or another label.
void check_training_classes(const CvConfig& c, const DataFrame& obs, const std::vector<FoldRun>& runs) {
  for (const TaskConfig& task : c.pipeline.tasks) {
    const Column& label = obs.require(task.label);
    std::vector<int64_t> cells(static_cast<size_t>(obs.rows()));
    std::iota(cells.begin(), cells.end(), int64_t{0});
    if (!task.cells.empty()) cells = select_rows(obs, parse_selection(task.cells), c.pipeline.data);
    const std::set<int64_t> task_rows(cells.begin(), cells.end());
    for (const FoldRun& run : runs) {
      std::set<std::string> trained, tested;
      for (int64_t r : run.split.rows(obs, "train"))
        if (task_rows.count(r) && !label.is_missing(r)) trained.insert(label.text(r));
      for (int64_t r : run.split.rows(obs, "test"))
        if (task_rows.count(r) && !label.is_missing(r)) tested.insert(label.text(r));
      if (trained.size() < 2)
        fail("cv: fold {} (seed {}): task '{}' has {} class(es) of '{}' among its training patients' cells; use fewer folds",
             run.fold, run.seed, task.name, trained.size(), task.label);
      for (const auto& value : tested)
        if (!trained.count(value))
          fail("cv: fold {} (seed {}): task '{}' tests class '{}' of '{}' that no training patient of the fold has; "
               "use fewer folds or leave that class out of the task's cells",
               run.fold, run.seed, task.name, value, task.label);
    }
  }
}

nlohmann::json plan_json(const CvConfig& c, const std::vector<FoldRun>& runs) {
  nlohmann::json folds = nlohmann::json::array();
  for (const FoldRun& run : runs)
    folds.push_back({{"seed", run.seed}, {"fold", run.fold}, {"test_groups", run.split.test_groups},
                     {"validation_groups", run.split.validation_groups}});
  return {{"config", c.source}, {"folds", folds}};
}

// DIR/plan.json: written on the first run; a later run of DIR must bring the same plan.
void check_or_write_plan(const RunDirectory& d, const nlohmann::json& plan) {
  const std::string path = d.file("plan.json");
  if (std::filesystem::exists(path)) {
    if (read_json_file(path) != plan)
      fail("{}: holds a cross-validation of another config, data or seed; use another --out or remove it", d.dir.string());
    return;
  }
  write_json_file(path, plan);
}

// The figures a cross-validation compares, from one classification_metrics result.
nlohmann::json cv_metrics(const nlohmann::json& m, const std::string& positive) {
  nlohmann::json s = {{"n", m.at("n")}};
  for (const char* key : {"auroc", "average_precision", "balanced_accuracy", "macro_f1", "accuracy", "threshold"})
    if (m.contains(key)) s[key] = m[key];
  if (!positive.empty() && m["per_class"].contains(positive) && m["per_class"][positive].contains("average_precision"))
    s["average_precision"] = m["per_class"][positive]["average_precision"];  // of the class the task names
  if (!positive.empty()) {
    s["call_rate"] = m["predicted_fraction"].value(positive, 0.0);
    const bool present = m["per_class"].contains(positive) && m["per_class"][positive]["support"].get<int64_t>() > 0;
    s["f1"] = present ? m["per_class"][positive]["f1"] : nlohmann::json(nullptr);
  }
  return s;
}

// The task's models trained on one fold's embedding; metrics and ROC curves recorded in `entry`.
void run_task(const PipelineConfig& c, const RunDirectory& d, const TaskConfig& task, const std::string& embedded,
              const std::string& split_path, const std::string& pretrained, nlohmann::json& entry) {
  for (const CvModel& model : models_of(task, pretrained)) {
    HeadResult r =
        train_head(c, d, task, embedded, split_path, model.features, model.head, task.name + "_" + model.name, model.finetune);
    auto record = [&](const std::string& key, const nlohmann::json& metrics) {
      entry["metrics"][model.name][key] = cv_metrics(metrics, task.positive);
      if (metrics.contains("roc")) entry["roc"][model.name][key] = metrics["roc"]["tpr"];
    };
    record(task.name, r.test);
    for (const auto& [group, _] : task.zeroshot) record(task.name + "/" + group, r.zeroshot.at(group));
  }
}

// One fold from scratch: its split, pretraining on its training patients, embedding, every task.
nlohmann::json run_fold(const CvConfig& config, const RunDirectory& out, const FoldRun& run) {
  const PipelineConfig c = with_seed(config.pipeline, run.seed);
  std::error_code ec;
  std::filesystem::remove_all(out.dir / "work" / run.name(), ec);  // a fold killed half-way starts again
  const RunDirectory d = create_run_directory((out.dir / "work" / run.name()).string());
  const std::string split_path = d.file("split.json");
  write_json_file(split_path, run.split.to_json());
  const PretrainOptions pretrain = pretrain_step(c, d, split_path);
  const EmbedOptions embedded = embed_step(c, d, pretrain.out);
  nlohmann::json entry = {{"fold", run.fold},
                          {"seed", run.seed},
                          {"test_groups", run.split.test_groups},
                          {"validation_groups", run.split.validation_groups},
                          {"metrics", nlohmann::json::object()},
                          {"roc", nlohmann::json::object()}};
  for (const TaskConfig& task : c.tasks) run_task(c, d, task, embedded.out, split_path, pretrain.out, entry);
  std::filesystem::remove(embedded.out, ec);  // a copy of the data: the largest file, not needed again
  return entry;
}

std::string duration(double seconds) {
  return seconds < 90 ? fmt::format("{:.0f} s", seconds) : fmt::format("{:.0f} min", seconds / 60);
}

// Every fold's entry: read where DIR has it, run otherwise (with a progress line and time left).
nlohmann::json all_folds(const CvConfig& c, const RunDirectory& d, const std::vector<FoldRun>& runs) {
  nlohmann::json folds = nlohmann::json::array();
  double spent = 0;
  int ran = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    const std::string path = d.file("folds/" + runs[i].name() + ".json");
    if (std::filesystem::exists(path)) {
      spdlog::info("[cv] {} already done ({}): kept", runs[i].name(), path);
      folds.push_back(read_json_file(path));
      continue;
    }
    spdlog::info("[cv] {} of {}: {} (test groups: {})", i + 1, runs.size(), runs[i].name(), fmt::join(runs[i].split.test_groups, ", "));
    const auto start = std::chrono::steady_clock::now();
    folds.push_back(run_fold(c, d, runs[i]));
    write_json_file(path, folds.back());
    spent += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++ran;
    const size_t left = runs.size() - i - 1;
    spdlog::info("[cv] {} of {} folds done ({} for this one); {} left, about {}", i + 1, runs.size(),
                 duration(spent / ran), left, duration(spent / ran * static_cast<double>(left)));
  }
  return folds;
}

}  // namespace

CvConfig parse_cv_config(const nlohmann::json& j, const std::string& source) {
  CvConfig c;
  c.pipeline = parse_pipeline_config(j, source);
  c.source = j;
  c.source.erase("out");
  if (!c.pipeline.split.file.empty()) fail("{}: cv draws its own folds; remove split.file", source);
  const SplitOptions by = parse_split_spec(c.pipeline.split.spec);
  if (by.kind != SplitKind::Group) fail("{}: cv holds out whole groups: split.by must be group:COLUMN, got '{}'", source, c.pipeline.split.spec);
  c.folds.group_column = by.column;
  c.folds.stratify = c.pipeline.split.stratify;
  try {
    const nlohmann::json cv = j.value("cv", nlohmann::json::object());
    if (!cv.is_object()) fail("{}: cv must be a JSON object", source);
    for (const auto& [key, _] : cv.items())
      if (!std::set<std::string>{"folds", "leave_one_group_out", "seeds", "validation_fraction"}.count(key))
        fail("{}: cv: unknown key '{}'", source, key);
    c.folds.folds = cv.value("folds", c.folds.folds);
    c.folds.leave_one_group_out = cv.value("leave_one_group_out", false);
    c.folds.validation_fraction = cv.value("validation_fraction", c.folds.validation_fraction);
    c.seeds = cv.value("seeds", std::vector<uint64_t>{c.pipeline.seed});
  } catch (const nlohmann::json::exception& e) {
    fail("{}: cv: {}", source, e.what());
  }
  if (c.seeds.empty()) fail("{}: cv.seeds must list at least one seed", source);
  return c;
}

nlohmann::json run_cv(const CvConfig& c) {
  DataSpec all;
  all.path = c.pipeline.data;
  all.matrix = c.pipeline.matrix;
  const DataFrame obs = load_cells(all).obs;
  const std::vector<FoldRun> runs = plan_folds(c, obs);
  check_training_classes(c, obs, runs);
  const RunDirectory d = create_run_directory(c.pipeline.out);
  check_or_write_plan(d, plan_json(c, runs));
  std::filesystem::create_directories(d.dir / "folds");
  nlohmann::json folds = all_folds(c, d, runs);
  const double test_train_ratio = 1.0 / static_cast<double>(runs.size() / c.seeds.size() - 1);
  nlohmann::json results = {
      {"data", c.pipeline.data},
      {"protocol",
       {{"group", c.folds.group_column},
        {"stratify", c.folds.stratify},
        {"folds", runs.size() / c.seeds.size()},
        {"seeds", c.seeds},
        {"validation_fraction", c.folds.validation_fraction},
        {"baselines", {kPcaBaseline, kHvgBaseline}},
        {"baseline_genes", c.pipeline.baseline_genes},
        {"baseline_components", c.pipeline.baseline_components},
        {"interval", "95%, t over folds x seeds with the Nadeau-Bengio correction (variance x (1/n + 1/(K-1)))"}}},
      {"folds", folds},
      {"summary", eval::summarise_folds(folds)},
      {"comparisons", eval::compare_to_baselines(folds, {kPcaBaseline, kHvgBaseline}, kComparedMetrics, test_train_ratio)}};
  write_json_file(d.file("results.json"), results);
  std::vector<report::CvTask> tasks;
  for (const TaskConfig& task : c.pipeline.tasks) {
    tasks.push_back({task.name, task.positive});
    for (const auto& [group, _] : task.zeroshot) tasks.push_back({task.name + "/" + group, task.positive});
  }
  report::write_cv_report(results, tasks, d.dir.string());
  return results;
}

}  // namespace marrow::workflow
