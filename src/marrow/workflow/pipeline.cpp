#include "marrow/workflow/pipeline.hpp"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/json_util.hpp"
#include "marrow/report/figures.hpp"
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
    check_keys(j, {"data", "matrix", "out", "seed", "split", "pretrain", "classify", "tasks"}, source);
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
    check_keys(pre, {"cells", "latent", "hidden", "activation", "norm", "loss", "dropout", "input_dropout", "epochs", "batch_size",
                     "learning_rate", "weight_decay", "patience", "min_cells", "hvg", "n_top_genes", "scale"},
               source + ": pretrain");
    c.pretrain_cells = pre.value("cells", "");
    c.model.latent = pre.value("latent", c.model.latent);
    c.model.hidden = pre.value("hidden", c.model.hidden);
    c.model.loss = pre.value("loss", c.model.loss);
    c.model.activation = pre.value("activation", c.model.activation);
    c.model.norm = pre.value("norm", c.model.norm);
    c.model.dropout = pre.value("dropout", c.model.dropout);
    c.model.input_dropout = pre.value("input_dropout", c.model.input_dropout);
    c.preprocess.qc.min_cells = pre.value("min_cells", c.preprocess.qc.min_cells);
    c.preprocess.hvg = pre.value("hvg", preprocess::HvgFlavor::None);
    c.preprocess.n_top_genes = pre.value("n_top_genes", c.preprocess.n_top_genes);
    c.preprocess.scale = pre.value("scale", c.preprocess.scale);
    c.pretrain.epochs = pre.value("epochs", 25);
    c.pretrain.batch_size = pre.value("batch_size", int64_t{64});
    c.pretrain.learning_rate = pre.value("learning_rate", c.pretrain.learning_rate);
    c.pretrain.weight_decay = pre.value("weight_decay", c.pretrain.weight_decay);
    c.pretrain.patience = pre.value("patience", 5);
    c.pretrain.seed = c.seed;
    const auto& cls = j.value("classify", nlohmann::json::object());
    check_keys(cls, {"epochs", "batch_size", "learning_rate", "patience", "transformer_width"}, source + ": classify");
    c.classify.epochs = cls.value("epochs", 100);
    c.classify.batch_size = cls.value("batch_size", int64_t{64});
    c.classify.learning_rate = cls.value("learning_rate", c.classify.learning_rate);
    c.classify.patience = cls.value("patience", 10);
    c.classify.seed = c.seed;
    c.transformer_width = cls.value("transformer_width", c.transformer_width);
    if (!j.contains("tasks") || !j["tasks"].is_array() || j["tasks"].empty()) fail("{}: 'tasks' must list at least one task", source);
    for (const auto& t : j["tasks"]) {
      check_keys(t, {"name", "label", "cells", "positive", "heads", "baseline_heads", "zeroshot"}, source + ": task");
      TaskConfig task;
      task.label = t.at("label").get<std::string>();
      task.name = t.value("name", task.label);
      task.cells = t.value("cells", "");
      task.positive = t.value("positive", "");
      task.heads = t.value("heads", task.heads);
      task.baseline_heads = t.value("baseline_heads", task.baseline_heads);
      const nlohmann::json groups = t.value("zeroshot", nlohmann::json::object());  // kept alive for the loop
      for (const auto& [group, selection] : groups.items()) task.zeroshot.emplace_back(group, selection.get<std::string>());
      c.tasks.push_back(std::move(task));
    }
  } catch (const nlohmann::json::exception& e) {
    fail("{}: {}", source, e.what());
  }
  return c;
}

std::string run_pipeline(const PipelineConfig& c) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(c.out, ec);
  if (ec) fail("{}: cannot create the output directory: {}", c.out, ec.message());
  fs::path dir(c.out);
  auto file = [&](const std::string& name) { return (dir / name).string(); };
  fs::create_directories(dir / "figures", ec);
  if (ec) fail("{}: cannot create the figures directory: {}", (dir / "figures").string(), ec.message());

  // 1. One split for every step: the test patients never train anything.
  std::string split_path = c.split.file;
  if (split_path.empty()) {
    spdlog::info("[pipeline] split: {}", c.split.spec);
    DataSpec all;
    all.path = c.data;
    all.matrix = c.matrix;
    Parts parts = resolve_parts(load_cells(all).obs, c.split, c.data);
    split_path = file("split.json");
    write_json_file(split_path, parts.split->to_json());
  }

  // 2. Autoencoder on the training part of the pretraining cells; 3. every cell embedded.
  spdlog::info("[pipeline] pretraining the autoencoder");
  PretrainOptions pretrain;
  pretrain.data.path = c.data;
  pretrain.data.matrix = c.matrix;
  pretrain.data.cells = c.pretrain_cells;
  pretrain.split.file = split_path;
  pretrain.split.validation_fraction = 0.1;
  pretrain.split.seed = c.seed;
  pretrain.preprocess = c.preprocess;
  pretrain.model = c.model;
  pretrain.train = c.pretrain;
  pretrain.train.metrics = file("ae_metrics.jsonl");
  pretrain.out = file("ae.marrow");
  pretrain_autoencoder(pretrain);
  spdlog::info("[pipeline] embedding every cell");
  EmbedOptions embed_options;
  embed_options.model = pretrain.out;
  embed_options.data.path = c.data;
  embed_options.data.matrix = c.matrix;
  embed_options.out = file("embedded.h5ad");
  embed(embed_options);

  // 4. Heads on the embedding and on the baseline; 5. zero-shot groups.
  nlohmann::json results = {{"data", c.data}, {"split", split_path}, {"autoencoder", pretrain.out}, {"tasks", nlohmann::json::object()}};
  std::string report = fmt::format("# marrow run\n\nData: `{}`; split: `{}`; autoencoder: `{}`.\n"
                                   "Every figure is on the test part of the split (held-out cells or patients).\n\n",
                                   c.data, split_path, pretrain.out);
  report += c.report_preamble;
  report::write_training_curves({{"training", pretrain.train.metrics, "train_loss"}, {"validation", pretrain.train.metrics, "validation_loss"}},
                                "Autoencoder pretraining", fmt::format("loss ({})", c.model.loss),
                                file("figures/autoencoder_loss.svg"));
  report += "## Autoencoder pretraining\n\n![autoencoder loss by epoch](figures/autoencoder_loss.svg)\n\n";
  for (const auto& task : c.tasks) {
    std::vector<std::pair<std::string, models::Head>> runs;
    for (const auto& h : task.heads) runs.emplace_back("X_marrow", h);
    for (const auto& h : task.baseline_heads) runs.emplace_back("pca", h);
    std::vector<std::string> columns = {"features", "head", "accuracy", "balanced accuracy", "macro F1"};
    if (!task.positive.empty()) columns.push_back("F1 " + task.positive);
    columns.push_back("AUROC");
    for (const auto& [group, _] : task.zeroshot) {
      columns.push_back(group + (task.positive.empty() ? ": AUROC" : ": F1 " + task.positive + ", AUROC"));
      columns.push_back(group + ": predicted " + (task.positive.empty() ? "(classes)" : task.positive));
    }
    report += fmt::format("## {} (label `{}`, cells `{}`)\n\n| {} |\n|", task.name, task.label,
                          task.cells.empty() ? "all" : task.cells, fmt::join(columns, " | "));
    for (size_t i = 0; i < columns.size(); ++i) report += "---|";
    report += "\n";
    std::vector<report::Curve> curves;
    std::string confusions;
    for (const auto& [features, head] : runs) {
      spdlog::info("[pipeline] {}: {} head on {}", task.name, head, features == "pca" ? "the PCA baseline" : "the embedding");
      ClassifyTrainOptions train;
      train.data.path = embed_options.out;
      train.data.cells = task.cells;
      train.embedding = features;
      train.label = task.label;
      train.model.head = head;
      train.model.width = c.transformer_width;
      train.split.file = split_path;
      train.split.validation_fraction = 0.1;
      train.split.seed = c.seed;
      train.train = c.classify;
      const std::string run_name = fmt::format("{}_{}_{}", task.name, features, head);
      const std::string run_label = fmt::format("{} + {}", features == "pca" ? "PCA baseline" : "autoencoder", head);
      train.out = file(run_name + ".marrow");
      train.train.metrics = file(run_name + "_metrics.jsonl");
      nlohmann::json metrics = classify_train(train);
      curves.push_back({run_label, train.train.metrics, "validation_loss"});
      report::write_confusion_matrix(metrics, run_label, file("figures/" + run_name + "_confusion.svg"));
      confusions += fmt::format("![{0} confusion matrix](figures/{1}_confusion.svg) ", run_label, run_name);
      nlohmann::json entry = {{"model", train.out}, {"test", metrics}};
      std::string row = fmt::format("| {} | {} | {} | {} | {} | {}{} |", features == "pca" ? "PCA baseline" : "autoencoder", head,
                                    format_metric(metrics, "accuracy"), format_metric(metrics, "balanced_accuracy"),
                                    format_metric(metrics, "macro_f1"),
                                    task.positive.empty() ? "" : positive_f1(metrics, task.positive) + " | ",
                                    format_metric(metrics, "auroc"));
      if (!task.zeroshot.empty()) {
        ZeroShotOptions z;
        z.evaluate.model = train.out;
        z.evaluate.data.path = embed_options.out;
        z.evaluate.label = task.label;
        z.evaluate.split_file = split_path;
        for (const auto& [group, selection] : task.zeroshot) z.groups.push_back(group + ":" + selection);
        entry["zeroshot"] = zeroshot(z);
        for (const auto& [group, _] : task.zeroshot) {
          const auto& m = entry["zeroshot"][group];
          std::string fractions;
          if (task.positive.empty()) {
            for (const auto& [cls, f] : m["predicted_fraction"].items()) fractions += fmt::format("{} {:.2f} ", cls, f.get<double>());
          } else {
            fractions = fmt::format("{:.3f}", m["predicted_fraction"].value(task.positive, 0.0));
          }
          row += fmt::format(" {}{} | {} |", task.positive.empty() ? "" : positive_f1(m, task.positive) + ", ",
                             format_metric(m, "auroc"), fractions);
        }
      }
      results["tasks"][task.name][fmt::format("{}/{}", features, head)] = entry;
      report += row + "\n";
    }
    report::write_training_curves(curves, task.name + ": classifier validation loss", "validation loss (class-weighted cross-entropy)",
                                  file("figures/" + task.name + "_curves.svg"));
    DataSpec task_cells;
    task_cells.path = embed_options.out;
    task_cells.cells = task.cells;
    report::write_embedding_map(load_cells(task_cells), embed_options.key, task.label,
                                fmt::format("{}: autoencoder embedding (t-SNE), by {}", task.name, task.label),
                                file("figures/" + task.name + "_map.svg"), 2000, c.seed);
    report += fmt::format(
        "\nConfusion matrices on the test part (rows: true class, columns: predicted; colour: share of the row):\n\n{0}\n\n"
        "![{1} classifier validation loss](figures/{1}_curves.svg) ![{1} embedding map](figures/{1}_map.svg)\n\n",
        confusions, task.name);
  }
  write_json_file(file("results.json"), results);
  std::string report_path = file("report.md");
  write_file_atomic(report_path, report);
  return report_path;
}

}  // namespace marrow::workflow
