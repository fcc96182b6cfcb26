#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>

#include "cli.hpp"
#include "marrow/workflow/classify.hpp"

namespace marrow::cli {

namespace {

void print_metrics(const nlohmann::json& m, bool json) {
  if (json) {
    std::cout << m.dump(2) << "\n";
    return;
  }
  std::cout << fmt::format("n {}  accuracy {:.3f}  balanced accuracy {:.3f}  macro F1 {:.3f}", m["n"].get<int64_t>(),
                           m["accuracy"].get<double>(), m["balanced_accuracy"].get<double>(), m["macro_f1"].get<double>());
  if (m.contains("auroc") && !m["auroc"].is_null()) std::cout << fmt::format("  AUROC {:.3f}", m["auroc"].get<double>());
  if (m.contains("threshold")) std::cout << fmt::format("  threshold {:.3f}", m["threshold"].get<double>());
  std::cout << "\n";
  for (const auto& [name, c] : m["per_class"].items())
    std::cout << fmt::format("  {:<16} precision {:.3f}  recall {:.3f}  F1 {:.3f}  support {:>6}  predicted {:.1f}%\n", name,
                             c["precision"].get<double>(), c["recall"].get<double>(), c["f1"].get<double>(),
                             c["support"].get<int64_t>(), 100 * m["predicted_fraction"][name].get<double>());
}

// --embedding: an obsm key, pca or hvg; parsed here into the features type.
void add_embedding_option(CLI::App& command, models::ClassifierFeatures& features, const std::string& help) {
  command.add_option_function<std::string>(
             "--embedding", [&features](const std::string& text) { features = models::ClassifierFeatures::from_option(text); }, help)
      ->default_str(features.name());
}

}  // namespace

void add_embedding_metrics_command(CLI::App& app) {
  auto o = std::make_shared<workflow::EmbeddingMetricsOptions>();
  auto json = std::make_shared<bool>(false);
  o->split.spec = "random";
  auto* cmd = app.add_subcommand("embedding-metrics",
                                 "kNN accuracy and k-means adjusted Rand index of a label in an embedding (or the PCA baseline)");
  add_data_options(*cmd, o->data);
  add_embedding_option(*cmd, o->embedding, "obsm key of the embedding, or a baseline: pca, hvg (scaled highly variable genes)");
  cmd->add_option("--label", o->label, "obs column")->required();
  cmd->add_option("--neighbours", o->neighbours, "kNN: training cells that vote")->capture_default_str();
  cmd->add_option("--pca-components", o->pca_components, "pca baseline: components")->capture_default_str();
  add_split_options(*cmd, o->split, false);
  cmd->add_flag("--json", *json, "Print JSON");
  cmd->callback([o, json] {
    nlohmann::json m = workflow::embedding_metrics(*o);
    record_result(m);
    if (*json) {
      std::cout << m.dump(2) << "\n";
      return;
    }
    std::cout << fmt::format("{}: kNN (k={}) accuracy {:.3f}, macro F1 {:.3f} on {} test cells; ARI {:.3f} ({} k-means clusters)\n",
                             o->embedding.name(), o->neighbours, m["knn"]["accuracy"].get<double>(), m["knn"]["macro_f1"].get<double>(),
                             m["n_test"].get<int64_t>(), m["ari"].get<double>(), m["clusters"].get<int64_t>());
  });
}

void add_zeroshot_command(CLI::App& app) {
  auto o = std::make_shared<workflow::ZeroShotOptions>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("zeroshot", "Evaluate one classifier, unchanged, on several groups of cells (e.g. lineages)");
  cmd->add_option("--model,-m", o->evaluate.model, "Classifier file")->required();
  add_data_options(*cmd, o->evaluate.data);
  cmd->add_option("--label", o->evaluate.label, "obs column with the true labels")->required();
  cmd->add_option("--group", o->groups, "NAME:SELECTION, repeatable, e.g. lymphoid:cell_type=B,T,NK")->required();
  add_part_options(*cmd, o->evaluate.split, o->evaluate.part);
  cmd->add_flag("--json", *json, "Print JSON: {GROUP: metrics}");
  cmd->callback([o, json] {
    nlohmann::json result = workflow::zeroshot(*o);
    record_result(result);
    if (*json) {
      std::cout << result.dump(2) << "\n";
      return;
    }
    for (const auto& [group, metrics] : result.items()) {
      std::cout << "== " << group << "\n";
      print_metrics(metrics, false);
    }
  });
}

void add_classify_command(CLI::App& app) {
  auto* classify = app.add_subcommand("classify", "Classifiers on cell embeddings: train, evaluate, predict");
  classify->require_subcommand(1);

  auto t = std::make_shared<workflow::ClassifyTrainOptions>();
  auto t_json = std::make_shared<bool>(false);
  t->split.spec = "random";
  t->split.validation_fraction = 0.1;
  t->train.epochs = 100;
  t->train.batch_size = 64;  // small labelled sets still get many optimizer steps
  t->train.patience = 10;
  auto* train = classify->add_subcommand("train", "Train a classifier; reports metrics on the split's test part");
  add_data_options(*train, t->data);
  add_embedding_option(*train, t->embedding,
                       "obsm key of the embedding, or a built-in baseline: pca, hvg (scaled highly variable genes)");
  train->add_option("--label", t->label, "obs column to predict")->required();
  add_enum_option(*train, "--head", t->model.head, "Classifier head");
  train->add_option("--tokens", t->model.tokens, "transformer: tokens the embedding is cut into")->capture_default_str();
  train->add_option("--width", t->model.width, "transformer: token width")->capture_default_str();
  train->add_option("--heads", t->model.heads, "transformer: attention heads")->capture_default_str();
  train->add_option("--layers", t->model.layers, "transformer: encoder layers")->capture_default_str();
  train->add_option("--neighbours", t->model.neighbours, "gcn: nearest training cells each cell joins")->capture_default_str();
  train->add_option("--hidden", t->model.hidden, "mlp hidden widths")->capture_default_str()->delimiter(',');
  train->add_option("--dropout", t->model.dropout, "mlp dropout")->capture_default_str();
  train->add_option("--pca-components", t->pca_components, "pca baseline: components")->capture_default_str();
  train->add_option("--pca-genes", t->pca_genes, "pca and hvg baselines: highly variable genes")->capture_default_str();
  add_enum_option(*train, "--threshold-rule", t->threshold_rule,
                  "Two classes: decision threshold chosen on the validation part (none: 0.5)");
  train->add_flag("!--unbalanced", t->balanced, "Do not weight classes by inverse frequency");
  train->add_option("--label-fraction", t->label_fraction, "Train on this seeded, stratified share of the training cells")
      ->capture_default_str();
  add_split_options(*train, t->split, true);
  add_training_options(*train, t->train);
  train->add_flag("--json", *t_json, "Print the test metrics as JSON");
  train->add_option("--out,-o", t->out, "Classifier file (.marrow)")->required();
  train->callback([t, t_json] {
    t->train.seed = t->split.seed;
    nlohmann::json metrics = workflow::classify_train(*t);
    record_result(metrics);
    spdlog::info("wrote {}; metrics on the {}:", t->out, metrics["evaluated_on"].get<std::string>());
    print_metrics(metrics, *t_json);
  });

  auto e = std::make_shared<workflow::ClassifyApplyOptions>();
  auto e_json = std::make_shared<bool>(false);
  auto* evaluate = classify->add_subcommand("evaluate", "Metrics of a trained classifier on labelled cells");
  evaluate->add_option("--model,-m", e->model, "Classifier file")->required();
  add_data_options(*evaluate, e->data);
  evaluate->add_option("--label", e->label, "obs column with the true labels")->required();
  add_part_options(*evaluate, e->split, e->part);
  evaluate->add_flag("--json", *e_json, "Print JSON");
  evaluate->callback([e, e_json] {
    nlohmann::json metrics = workflow::classify_evaluate(*e);
    record_result(metrics);
    print_metrics(metrics, *e_json);
  });

  auto p = std::make_shared<workflow::ClassifyApplyOptions>();
  auto* predict = classify->add_subcommand("predict", "Predicted class and class probabilities as obs columns");
  predict->add_option("--model,-m", p->model, "Classifier file")->required();
  add_data_options(*predict, p->data);
  predict->add_option("--prefix", p->prefix, "Column prefix: PREFIX_prediction, PREFIX_p_CLASS")->capture_default_str();
  predict->add_option("--out,-o", p->out, "Output .h5ad")->required();
  predict->callback([p] {
    int64_t n = workflow::classify_predict(*p);
    record_result({{"cells", n}, {"prefix", p->prefix}});
    spdlog::info("wrote predictions for {} cells to {} (obs['{}_prediction'])", n, p->out, p->prefix);
  });
}

}  // namespace marrow::cli
