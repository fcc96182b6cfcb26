#include "marrow/workflow/pipeline.hpp"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/json_util.hpp"
#include "marrow/core/step_log.hpp"
#include "marrow/report/figures.hpp"
#include "marrow/report/html.hpp"
#include "marrow/workflow/autoencoder.hpp"
#include "marrow/workflow/embed.hpp"
#include "marrow/workflow/classify.hpp"

namespace marrow::workflow {

namespace {

void check_keys(const nlohmann::json& j, const std::set<std::string>& allowed, const std::string& where) {
  if (!j.is_object()) fail("{}: must be a JSON object", where);
  for (const auto& [key, _] : j.items())
    if (!allowed.count(key)) fail("{}: unknown key '{}'", where, key);
}

std::string format_metric(const nlohmann::json& m, const std::string& key) {
  if (!m.contains(key) || m[key].is_null()) return "-";
  return fmt::format("{:.3f}", m[key].get<double>());
}

std::string positive_f1(const nlohmann::json& m, const std::string& positive) {
  // Undefined without positive cells (e.g. malignancy among lymphoid cells, all normal).
  if (positive.empty() || !m["per_class"].contains(positive) || m["per_class"][positive]["support"].get<int64_t>() == 0)
    return "-";
  return fmt::format("{:.3f}", m["per_class"][positive]["f1"].get<double>());
}

}  // namespace

PipelineConfig parse_pipeline_config(const nlohmann::json& j, const std::string& source) {
  PipelineConfig c;
  try {
    check_keys(j, {"data", "matrix", "out", "seed", "split", "pretrain", "classify", "tasks", "cv"}, source);
    c.data = j.at("data").get<std::string>();
    c.matrix = j.value("matrix", c.matrix);
    c.out = j.value("out", c.out);
    c.seed = j.value("seed", c.seed);
    const auto& split = j.value("split", nlohmann::json::object());
    check_keys(split, {"by", "file", "stratify", "test_fraction"}, source + ": split");
    c.split.spec = split.value("by", std::string(split.contains("file") ? "" : "group:patient"));
    c.split.file = split.value("file", "");
    c.split.stratify = split.value("stratify", "");
    c.split.test_fraction = split.value("test_fraction", 0.3);
    c.split.seed = c.seed;
    c.split.validation_fraction = 0.1;
    const auto& pre = j.value("pretrain", nlohmann::json::object());
    check_keys(pre, {"kind", "cells", "latent", "hidden", "activation", "norm", "loss", "dropout", "input_dropout", "epochs",
                     "batch_size", "learning_rate", "weight_decay", "patience", "min_cells", "hvg", "n_top_genes", "scale",
                     "kl_warmup", "batch_key"},
               source + ": pretrain");
    if (pre.value("kind", AutoencoderKind::Ae) == AutoencoderKind::Vae) set_vae_defaults(c.model, c.preprocess);
    c.kl_warmup_epochs = pre.value("kl_warmup", c.kl_warmup_epochs);
    c.model.batch_key = pre.value("batch_key", c.model.batch_key);
    c.pretrain_cells = pre.value("cells", "");
    c.model.latent = pre.value("latent", c.model.latent);
    c.model.hidden = pre.value("hidden", c.model.hidden);
    c.model.loss = pre.value("loss", c.model.loss);
    c.model.activation = pre.value("activation", c.model.activation);
    c.model.norm = pre.value("norm", c.model.norm);
    c.model.dropout = pre.value("dropout", c.model.dropout);
    c.model.input_dropout = pre.value("input_dropout", c.model.input_dropout);
    c.preprocess.qc.min_cells = pre.value("min_cells", c.preprocess.qc.min_cells);
    c.preprocess.hvg = pre.value("hvg", c.preprocess.hvg);
    c.preprocess.n_top_genes = pre.value("n_top_genes", c.preprocess.n_top_genes);
    c.preprocess.scale = pre.value("scale", c.preprocess.scale);
    c.pretrain.epochs = pre.value("epochs", 25);
    c.pretrain.batch_size = pre.value("batch_size", int64_t{64});
    c.pretrain.learning_rate = pre.value("learning_rate", c.pretrain.learning_rate);
    c.pretrain.weight_decay = pre.value("weight_decay", c.pretrain.weight_decay);
    c.pretrain.patience = pre.value("patience", 5);
    c.pretrain.seed = c.seed;
    const auto& cls = j.value("classify", nlohmann::json::object());
    check_keys(cls, {"epochs", "batch_size", "learning_rate", "patience", "transformer_width", "threshold_rule", "baseline_genes",
                     "baseline_components"},
               source + ": classify");
    c.baseline_genes = cls.value("baseline_genes", c.baseline_genes);
    c.baseline_components = cls.value("baseline_components", c.baseline_components);
    c.threshold_rule = cls.value("threshold_rule", c.threshold_rule);
    c.classify.epochs = cls.value("epochs", 100);
    c.classify.batch_size = cls.value("batch_size", int64_t{64});
    c.classify.learning_rate = cls.value("learning_rate", c.classify.learning_rate);
    c.classify.patience = cls.value("patience", 10);
    c.classify.seed = c.seed;
    c.transformer_width = cls.value("transformer_width", c.transformer_width);
    if (!j.contains("tasks") || !j["tasks"].is_array() || j["tasks"].empty()) fail("{}: 'tasks' must list at least one task", source);
    for (const auto& t : j["tasks"]) {
      check_keys(t, {"name", "label", "cells", "positive", "heads", "baseline_heads", "finetune_heads", "zeroshot"}, source + ": task");
      TaskConfig task;
      task.label = t.at("label").get<std::string>();
      task.name = t.value("name", task.label);
      task.cells = t.value("cells", "");
      task.positive = t.value("positive", "");
      task.heads = t.value("heads", task.heads);
      task.baseline_heads = t.value("baseline_heads", task.baseline_heads);
      task.finetune_heads = t.value("finetune_heads", task.finetune_heads);
      for (models::Head h : task.finetune_heads)
        if (h == models::Head::Gcn) fail("{}: task '{}': finetune_heads: the gcn head needs fixed features", source, task.name);
      const nlohmann::json groups = t.value("zeroshot", nlohmann::json::object());  // kept alive for the loop
      for (const auto& [group, selection] : groups.items()) task.zeroshot.emplace_back(group, selection.get<std::string>());
      c.tasks.push_back(std::move(task));
    }
  } catch (const nlohmann::json::exception& e) {
    fail("{}: {}", source, e.what());
  }
  return c;
}

RunDirectory create_run_directory(const std::string& out) {
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) fail("{}: cannot create the output directory: {}", out, ec.message());
  RunDirectory d{out};
  std::filesystem::create_directories(d.dir / "figures", ec);
  if (ec) fail("{}: cannot create the figures directory: {}", (d.dir / "figures").string(), ec.message());
  return d;
}

PretrainOptions pretrain_step(const PipelineConfig& c, const RunDirectory& d, const std::string& split_path) {
  PretrainOptions pretrain;
  pretrain.data.path = c.data;
  pretrain.data.matrix = c.matrix;
  pretrain.data.cells = c.pretrain_cells;
  pretrain.split.file = split_path;
  pretrain.split.validation_fraction = 0.1;
  pretrain.split.seed = c.seed;
  pretrain.preprocess = c.preprocess;
  pretrain.model = c.model;
  pretrain.kl_warmup_epochs = c.kl_warmup_epochs;
  pretrain.train = c.pretrain;
  pretrain.train.metrics = d.file("ae_metrics.jsonl");
  pretrain.out = d.file("ae.marrow");
  PretrainSummary summary;
  {
    StepLog step(fmt::format("[pipeline] pretraining the autoencoder ({} epochs at most)", c.pretrain.epochs));
    summary = pretrain_autoencoder(pretrain);
  }
  spdlog::info("[pipeline] autoencoder: {} genes, {} training cells, best epoch {} of {} (validation loss {:.4f})", summary.genes,
               summary.train_cells, summary.best_epoch, summary.epochs_run, summary.best_validation);
  return pretrain;
}

EmbedOptions embed_step(const PipelineConfig& c, const RunDirectory& d, const std::string& model) {
  EmbedOptions embed_options;
  embed_options.model = model;
  embed_options.data.path = c.data;
  embed_options.data.matrix = c.matrix;
  embed_options.out = d.file("embedded.h5ad");
  StepLog step("[pipeline] embedding every cell");
  embed(embed_options);
  return embed_options;
}

HeadResult train_head(const PipelineConfig& c, const RunDirectory& d, const TaskConfig& task, const std::string& embedded,
                      const std::string& split_path, const models::ClassifierFeatures& features, models::Head head,
                      const std::string& name, const FinetuneChoice& finetune) {
  ClassifyTrainOptions train;
  train.finetune_model = finetune.pretrained;
  train.from_scratch = finetune.from_scratch;
  if (finetune.from_scratch) train.encoder_learning_rate_factor = 1.0;  // nothing pretrained to keep: the full rate
  train.data.path = embedded;
  train.data.cells = task.cells;
  train.embedding = features;
  train.label = task.label;
  train.model.head = head;
  train.model.width = c.transformer_width;
  train.split.file = split_path;
  train.split.validation_fraction = 0.1;
  train.split.seed = c.seed;
  train.train = c.classify;
  train.threshold_rule = c.threshold_rule;
  train.pca_genes = c.baseline_genes;
  train.pca_components = c.baseline_components;
  train.out = d.file(name + ".marrow");
  train.train.metrics = d.file(name + "_metrics.jsonl");
  HeadResult result{train.out, train.train.metrics, nullptr, nullptr};
  {
    StepLog step(fmt::format("[pipeline] {}: {} head on {}", task.name, head, features.describe()));
    result.test = classify_train(train);
  }
  spdlog::info("[pipeline] {}: {} head on {}: balanced accuracy {}, AUROC {} (test part)", task.name, head, features.name(),
               format_metric(result.test, "balanced_accuracy"), format_metric(result.test, "auroc"));
  if (task.zeroshot.empty()) return result;
  std::vector<std::string> groups;
  for (const auto& [group, _] : task.zeroshot) groups.push_back(group);
  StepLog step(fmt::format("[pipeline] {}: zero-shot on {}", task.name, fmt::join(groups, ", ")));
  ZeroShotOptions z;
  z.evaluate.model = train.out;
  z.evaluate.data.path = embedded;
  z.evaluate.label = task.label;
  z.evaluate.split.file = split_path;
  for (const auto& [group, selection] : task.zeroshot) z.groups.push_back(group + ":" + selection);
  result.zeroshot = zeroshot(z);
  return result;
}

namespace {

// 1. One split for every step (the config's, or one made and saved): the test patients never train anything.
std::string run_split(const PipelineConfig& c, const RunDirectory& d) {
  if (!c.split.file.empty()) return c.split.file;
  StepLog step(fmt::format("[pipeline] split: {}", c.split.spec));
  DataSpec all;
  all.path = c.data;
  all.matrix = c.matrix;
  Parts parts = resolve_parts(load_cells(all).obs, c.split, c.data);
  std::string split_path = d.file("split.json");
  write_json_file(split_path, parts.split->to_json());
  return split_path;
}

// The header of a task's table: one row per head, zero-shot groups as extra columns.
std::string task_table_header(const TaskConfig& task) {
  std::vector<std::string> columns = {"features", "head", "accuracy", "balanced accuracy", "macro F1"};
  if (!task.positive.empty()) columns.push_back("F1 " + task.positive);
  columns.push_back("AUROC");
  for (const auto& [group, _] : task.zeroshot) {
    columns.push_back(group + (task.positive.empty() ? ": AUROC" : ": F1 " + task.positive + ", AUROC"));
    columns.push_back(group + ": predicted " + (task.positive.empty() ? "(classes)" : task.positive));
  }
  std::string header = fmt::format("## {} (label `{}`, cells `{}`)\n\n| {} |\n|", task.name, task.label,
                                   task.cells.empty() ? "all" : task.cells, fmt::join(columns, " | "));
  for (size_t i = 0; i < columns.size(); ++i) header += "---|";
  return header + "\n";
}

// A zero-shot group's cells of a table row: F1 of the positive class (or nothing) and AUROC, then
// the share predicted positive (or each class's share).
std::string zeroshot_cells(const TaskConfig& task, const nlohmann::json& m) {
  std::string fractions;
  if (task.positive.empty()) {
    for (const auto& [cls, f] : m["predicted_fraction"].items()) fractions += fmt::format("{} {:.2f} ", cls, f.get<double>());
  } else {
    fractions = fmt::format("{:.3f}", m["predicted_fraction"].value(task.positive, 0.0));
  }
  return fmt::format(" {}{} | {} |", task.positive.empty() ? "" : positive_f1(m, task.positive) + ", ", format_metric(m, "auroc"),
                     fractions);
}

// One head on one kind of features: trained, evaluated on the test part and on the zero-shot groups.
struct HeadRun {
  nlohmann::json entry;  // results.json: model, test metrics, zero-shot metrics
  std::string row;       // the table row
  report::Curve curve;   // validation loss by epoch
  std::string confusion; // the confusion-matrix figure, as markdown
};

HeadRun run_head(const PipelineConfig& c, const RunDirectory& d, const TaskConfig& task, const std::string& embedded,
                 const std::string& split_path, const models::ClassifierFeatures& features, models::Head head) {
  const bool baseline = features.is_baseline();
  const std::string run_name = fmt::format("{}_{}_{}", task.name, features.name(), head);
  const std::string run_label = fmt::format("{} + {}", baseline ? "PCA baseline" : "autoencoder", head);
  HeadResult trained = train_head(c, d, task, embedded, split_path, features, head, run_name);
  const nlohmann::json& metrics = trained.test;
  HeadRun run;
  run.curve = {run_label, trained.metrics_file, "validation_loss"};
  report::write_confusion_matrix(metrics, run_label, d.file("figures/" + run_name + "_confusion.svg"));
  run.confusion = fmt::format("![{0} confusion matrix](figures/{1}_confusion.svg) ", run_label, run_name);
  run.entry = {{"model", trained.model}, {"test", metrics}};
  run.row = fmt::format("| {} | {} | {} | {} | {} | {}{} |", baseline ? "PCA baseline" : "autoencoder", head,
                        format_metric(metrics, "accuracy"), format_metric(metrics, "balanced_accuracy"),
                        format_metric(metrics, "macro_f1"), task.positive.empty() ? "" : positive_f1(metrics, task.positive) + " | ",
                        format_metric(metrics, "auroc"));
  if (task.zeroshot.empty()) return run;
  run.entry["zeroshot"] = trained.zeroshot;
  for (const auto& [group, _] : task.zeroshot) run.row += zeroshot_cells(task, run.entry["zeroshot"][group]);
  return run;
}

// 4. Heads on the embedding and on the baseline, 5. zero-shot groups: one task's results and report section.
std::string run_task(const PipelineConfig& c, const RunDirectory& d, const TaskConfig& task, const EmbedOptions& embedded,
                     const std::string& split_path, nlohmann::json& results) {
  std::vector<std::pair<models::ClassifierFeatures, models::Head>> runs;
  for (const auto& h : task.heads) runs.emplace_back(models::ClassifierFeatures::from_option("X_marrow"), h);
  for (const auto& h : task.baseline_heads) runs.emplace_back(models::ClassifierFeatures{models::FeatureKind::Pca, ""}, h);
  std::string section = task_table_header(task);
  std::vector<report::Curve> curves;
  std::string confusions;
  for (const auto& [features, head] : runs) {
    HeadRun run = run_head(c, d, task, embedded.out, split_path, features, head);
    curves.push_back(run.curve);
    confusions += run.confusion;
    results["tasks"][task.name][fmt::format("{}/{}", features.name(), head)] = run.entry;
    section += run.row + "\n";
  }
  report::write_training_curves(curves, task.name + ": classifier validation loss", "validation loss (class-weighted cross-entropy)",
                                d.file("figures/" + task.name + "_curves.svg"));
  DataSpec task_cells;
  task_cells.path = embedded.out;
  task_cells.cells = task.cells;
  StepLog step(fmt::format("[pipeline] {}: t-SNE map of the embedding", task.name));
  report::write_embedding_map(load_cells(task_cells), embedded.key, task.label,
                              fmt::format("{}: autoencoder embedding (t-SNE), by {}", task.name, task.label),
                              d.file("figures/" + task.name + "_map.svg"), 2000, c.seed);
  return section + fmt::format(
                       "\nConfusion matrices on the test part (rows: true class, columns: predicted; colour: share of the row):\n\n{0}\n\n"
                       "![{1} classifier validation loss](figures/{1}_curves.svg) ![{1} embedding map](figures/{1}_map.svg)\n\n",
                       confusions, task.name);
}

}  // namespace

std::string run_pipeline(const PipelineConfig& c) {
  for (const auto& task : c.tasks)
    if (!task.finetune_heads.empty()) fail("task '{}': finetune_heads is a marrow cv key (marrow run does not fine-tune)", task.name);
  const RunDirectory d = create_run_directory(c.out);
  const std::string split_path = run_split(c, d);
  const PretrainOptions pretrain = pretrain_step(c, d, split_path);
  const EmbedOptions embedded = embed_step(c, d, pretrain.out);
  nlohmann::json results = {{"data", c.data}, {"split", split_path}, {"autoencoder", pretrain.out}, {"tasks", nlohmann::json::object()}};
  std::string report = fmt::format("# marrow run\n\nData: `{}`; split: `{}`; autoencoder: `{}`.\n"
                                   "Every figure is on the test part of the split (held-out cells or patients).\n\n",
                                   c.data, split_path, pretrain.out);
  report += c.report_preamble;
  report::write_training_curves({{"training", pretrain.train.metrics, "train_loss"}, {"validation", pretrain.train.metrics, "validation_loss"}},
                                "Autoencoder pretraining", fmt::format("loss ({})", c.model.loss),
                                d.file("figures/autoencoder_loss.svg"));
  report += "## Autoencoder pretraining\n\n![autoencoder loss by epoch](figures/autoencoder_loss.svg)\n\n";
  for (const auto& task : c.tasks) report += run_task(c, d, task, embedded, split_path, results);
  write_json_file(d.file("results.json"), results);
  std::string report_path = d.file("report.md");
  write_file_atomic(report_path, report);
  report::write_html_report(report_path, "marrow run");
  return report_path;
}

}  // namespace marrow::workflow
