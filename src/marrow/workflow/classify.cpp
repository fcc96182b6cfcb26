#include "marrow/workflow/classify.hpp"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <filesystem>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/json_util.hpp"
#include "marrow/data/selection.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/version.hpp"
#include "marrow/eval/metrics.hpp"
#include "marrow/io/h5ad_writer.hpp"
#include "marrow/io/load.hpp"
#include "marrow/models/batching.hpp"
#include "marrow/models/classifier.hpp"
#include "marrow/models/pca.hpp"
#include "marrow/models/exceiver.hpp"
#include "marrow/models/token_batching.hpp"
#include "marrow/preprocess/gene_tokens.hpp"
#include "marrow/models/model_file.hpp"
#include "marrow/preprocess/pipeline.hpp"
#include "marrow/train/trainer.hpp"
#include "marrow/models/token_input.hpp"
#include "marrow/workflow/run_metadata.hpp"

namespace marrow::workflow {

namespace {

constexpr const char* kKind = "classifier";

// Everything a saved classifier holds: the head and, for the PCA baseline, its projection; for a
// fine-tuned gene model, the whole model whose class query feeds the head.
struct BundleImpl : torch::nn::Module {
  BundleImpl(const models::ClassifierOptions& options, int64_t pca_genes, int64_t pca_components,
             const std::optional<models::ExceiverOptions>& exceiver_options = std::nullopt) {
    classifier = register_module("classifier", models::Classifier(options));
    if (pca_genes > 0) pca = register_module("pca", models::PcaProjection(pca_genes, pca_components));
    if (exceiver_options) exceiver = register_module("exceiver", models::Exceiver(*exceiver_options));
  }
  models::Classifier classifier{nullptr};
  models::PcaProjection pca{nullptr};
  models::Exceiver exceiver{nullptr};
};
TORCH_MODULE(Bundle);

// What a fine-tuned gene model reads: the cells as token sets over its vocabulary, whole.
struct TokenFeatures {
  preprocess::TokenCells cells;
  models::MaskingOptions whole;
};

TokenFeatures token_features(const AnnData& data, const models::TokenInput& input) { return {input.tokenize(data), input.whole_cells()}; }

// The class query's representation [rows, dim] of the given cells (with gradients when training).
torch::Tensor exceiver_features(Bundle& bundle, const TokenFeatures& tokens, const std::vector<int64_t>& rows) {
  Rng rng(0);
  std::vector<models::CellExample> examples;
  for (int64_t r : rows) examples.push_back(models::make_example(tokens.cells, r, tokens.whole, rng));
  return bundle->exceiver->class_representation(bundle->exceiver->encode(models::to_batch(examples, false)));
}

torch::Tensor exceiver_features_in_batches(Bundle& bundle, const TokenFeatures& tokens) {
  return models::over_whole_cells(tokens.cells, tokens.whole, 256, [&](const models::TokenBatch& b) {
    return bundle->exceiver->class_representation(bundle->exceiver->encode(b));
  });
}

torch::Tensor all_rows_dense(const CsrMatrix& m) {
  std::vector<int64_t> rows(m.rows);
  for (int64_t i = 0; i < m.rows; ++i) rows[i] = i;
  return models::dense_rows(m, rows);
}

// Features of every cell of `data`: the obsm embedding, or the baseline's scaled log-normalised
// expression (projected by the bundle's PCA).
torch::Tensor embedding_features(const AnnData& data, const std::string& key) {
  auto it = data.obsm.find(key);
  if (it == data.obsm.end()) {
    std::vector<std::string> keys;
    for (const auto& [k, _] : data.obsm) keys.push_back(k);
    fail("{}: no obsm['{}'] embedding (run `marrow embed` first, or use --embedding pca); the file has: {}", data.source, key,
         keys.empty() ? "no obsm entries" : fmt::format("{}", fmt::join(keys, ", ")));
  }
  const DenseMatrix& m = it->second;
  return torch::from_blob(const_cast<float*>(m.values.data()), {m.rows, m.cols}, torch::kFloat).clone();
}

torch::Tensor expression_for_pca(const AnnData& data, const preprocess::Preprocessor& preprocessor) {
  torch::Tensor x = all_rows_dense(preprocessor.transform(data));
  preprocessor.scale_rows(x.data_ptr<float>(), x.size(0));
  return x;
}

std::vector<int> class_indices(const Column& labels, const std::vector<std::string>& classes) {
  std::vector<int> out(labels.size(), -1);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels.is_missing(i)) continue;
    auto it = std::find(classes.begin(), classes.end(), labels.text(i));
    if (it != classes.end()) out[i] = static_cast<int>(it - classes.begin());
  }
  return out;
}

struct Prediction {
  std::vector<int> predicted;
  std::vector<float> probabilities;  // n x classes
};

Prediction predict(Bundle& bundle, const torch::Tensor& features) {
  bundle->eval();
  torch::NoGradGuard no_grad;
  Prediction p;
  torch::Tensor probabilities = torch::softmax(bundle->classifier->forward(features), 1).contiguous();
  torch::Tensor predicted = probabilities.argmax(1).to(torch::kInt).contiguous();
  p.predicted.assign(predicted.data_ptr<int>(), predicted.data_ptr<int>() + predicted.numel());
  p.probabilities.assign(probabilities.data_ptr<float>(), probabilities.data_ptr<float>() + probabilities.numel());
  return p;
}

torch::Tensor take(const torch::Tensor& t, const std::vector<int64_t>& rows) {
  return t.index_select(0, torch::tensor(rows, torch::kLong));
}

struct LoadedClassifier {
  models::ModelHeader header;
  Bundle bundle{nullptr};
  std::vector<std::string> classes;
  std::optional<preprocess::Preprocessor> preprocessor;  // the PCA baseline's
  std::string embedding;
  std::optional<models::TokenInput> exceiver_input;  // how a fine-tuned gene model reads cells
};

LoadedClassifier load_classifier(const std::string& path) {
  LoadedClassifier c;
  c.header = models::read_model_header(path, kKind);
  try {
    const auto& meta = c.header.meta;
    c.classes = meta.at("classes").get<std::vector<std::string>>();
    c.embedding = meta.at("features").at("embedding");
    int64_t pca_genes = 0, pca_components = 0;
    if (c.embedding == "pca") {
      c.preprocessor = preprocess::Preprocessor::from_json(meta.at("features").at("preprocessing"));
      pca_genes = static_cast<int64_t>(c.preprocessor->output_genes().size());
      pca_components = meta.at("features").at("components");
    }
    std::optional<models::ExceiverOptions> exceiver;
    if (c.embedding == "exceiver") {
      const nlohmann::json& exceiver_meta = meta.at("features").at("exceiver");
      c.exceiver_input = models::TokenInput::from_meta(exceiver_meta, path);
      exceiver = models::ExceiverOptions::from_json(exceiver_meta.at("model"));
    }
    c.bundle = Bundle(models::ClassifierOptions::from_json(meta.at("model")), pca_genes, pca_components, exceiver);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: classifier metadata is incomplete: {}", path, e.what());
  }
  models::load_model_weights(path, *c.bundle);
  return c;
}

torch::Tensor features_of(LoadedClassifier& c, const AnnData& data) {
  if (c.embedding == "exceiver") {
    c.bundle->eval();
    return exceiver_features_in_batches(c.bundle, token_features(data, *c.exceiver_input));
  }
  if (c.embedding != "pca") return embedding_features(data, c.embedding);
  torch::NoGradGuard no_grad;
  return c.bundle->pca->forward(expression_for_pca(data, *c.preprocessor));
}

// A seeded share of `rows` within each label value (at least one row per value), in row order.
std::vector<int64_t> stratified_sample(const Column& labels, const std::vector<int64_t>& rows, double fraction, uint64_t seed) {
  std::map<std::string, std::vector<int64_t>> by_label;
  for (int64_t r : rows) by_label[labels.text(r)].push_back(r);
  Rng rng(seed + 17);
  std::vector<int64_t> kept;
  for (auto& [label, members] : by_label) {
    shuffle(members, rng);
    size_t take_n = std::max<size_t>(1, static_cast<size_t>(std::lround(fraction * static_cast<double>(members.size()))));
    kept.insert(kept.end(), members.begin(), members.begin() + static_cast<std::ptrdiff_t>(std::min(take_n, members.size())));
  }
  std::sort(kept.begin(), kept.end());
  return kept;
}

}  // namespace

DenseMatrix baseline_pca_embedding(const AnnData& data, const std::vector<int64_t>& fit_rows, int64_t genes, int64_t components,
                                   uint64_t seed) {
  preprocess::Preprocessor preprocessor = models::fit_baseline_preprocessing(data.select_cells(fit_rows), genes);
  torch::Tensor expression = expression_for_pca(data, preprocessor);
  models::PcaProjection pca(expression.size(1), std::min<int64_t>({components, static_cast<int64_t>(fit_rows.size()) - 1, expression.size(1)}));
  pca->fit(take(expression, fit_rows), seed);
  torch::NoGradGuard no_grad;
  torch::Tensor z = pca->forward(expression).contiguous();
  return DenseMatrix{z.size(0), z.size(1), std::vector<float>(z.data_ptr<float>(), z.data_ptr<float>() + z.numel())};
}

nlohmann::json classify_train(const ClassifyTrainOptions& o) {
  if (o.out.empty()) fail("classify train: --out is required");
  if (o.label.empty()) fail("classify train: --label is required");
  check_output_directory(o.out);
  check_output_directory(o.train.metrics);
  AnnData all = load_cells(o.data);
  const Column& label_column = all.obs.require(o.label);
  std::vector<int64_t> labelled;
  for (size_t i = 0; i < label_column.size(); ++i)
    if (!label_column.is_missing(i)) labelled.push_back(static_cast<int64_t>(i));
  AnnData data = all.select_cells(labelled);
  const Column& labels = data.obs.require(o.label);
  Parts parts = resolve_parts(data.obs, o.split, o.data.path);
  // The baseline's gene selection and PCA read no labels: they fit on every training-part cell,
  // also under a label budget (as a user with few annotated cells would fit them).
  const std::vector<int64_t> unsupervised_fit = parts.train;
  if (o.label_fraction <= 0 || o.label_fraction > 1) fail("--label-fraction must be in (0, 1], got {}", o.label_fraction);
  if (o.label_fraction < 1) {
    // The validation part (early stopping) reads labels too, so it shrinks with the budget.
    std::vector<int64_t> kept = stratified_sample(labels, parts.train, o.label_fraction, o.split.seed);
    std::vector<int64_t> kept_validation;
    if (!parts.validation.empty()) kept_validation = stratified_sample(labels, parts.validation, o.label_fraction, o.split.seed + 1);
    spdlog::info("label budget: {} of {} training and {} of {} validation cells ({:.1f}%)", kept.size(), parts.train.size(),
                 kept_validation.size(), parts.validation.size(), 100 * o.label_fraction);
    parts.train = std::move(kept);
    parts.validation = std::move(kept_validation);
  }

  // Classes: the label values among training cells, in the column's order.
  std::vector<std::string> classes;
  for (const auto& [value, count] : labels.subset(parts.train).value_counts())
    if (count > 0) classes.push_back(value);
  if (classes.size() < 2)
    fail("{}: label '{}' has {} class{} among the training cells; a classifier needs at least 2", o.data.path, o.label,
         classes.size(), classes.size() == 1 ? " ('" + classes.front() + "')" : "es");
  std::vector<int> y = class_indices(labels, classes);

  nlohmann::json features_meta = {{"embedding", o.embedding}};
  torch::Tensor features;
  int64_t pca_genes = 0, pca_components = o.pca_components;
  std::optional<preprocess::Preprocessor> preprocessor;
  if (o.embedding == "pca") {
    preprocessor = models::fit_baseline_preprocessing(data.select_cells(unsupervised_fit), o.pca_genes);
    pca_genes = static_cast<int64_t>(preprocessor->output_genes().size());
    // No more components than the fitted cells and genes support.
    pca_components = std::min<int64_t>({o.pca_components, static_cast<int64_t>(unsupervised_fit.size()) - 1, pca_genes});
    if (pca_components < 1) fail("{}: too few training cells ({}) for the PCA baseline", o.data.path, unsupervised_fit.size());
    features_meta["preprocessing"] = preprocessor->to_json();
    features_meta["components"] = pca_components;
  }
  models::ClassifierOptions model_options = o.model;
  model_options.n_classes = static_cast<int64_t>(classes.size());
  torch::manual_seed(o.train.seed);
  // Fine-tuning a gene model: its class query's view of each cell feeds the head, and the model
  // trains with it (or stays frozen but for the class query with --freeze).
  const bool finetune = !o.finetune_model.empty();
  std::optional<models::ExceiverOptions> exceiver_options;
  std::optional<TokenFeatures> tokens;
  if (finetune) {
    if (model_options.head == models::Head::Gcn) fail("finetune: the gcn head needs fixed features; use linear, mlp or transformer");
    models::ModelHeader pretrained = models::read_model_header(o.finetune_model, "exceiver");
    exceiver_options = models::ExceiverOptions::from_json(pretrained.meta.at("model"));
    nlohmann::json exceiver_meta = {{"model", pretrained.meta.at("model")},
                                    {"vocabulary", pretrained.meta.at("vocabulary")},
                                    {"target_sum", pretrained.meta.at("target_sum")},
                                    {"masking", pretrained.meta.at("masking")},
                                    {"pretrained", o.from_scratch ? "" : o.finetune_model},
                                    {"architecture_of", o.finetune_model},
                                    {"frozen", o.freeze}};
    features_meta = {{"embedding", "exceiver"}, {"exceiver", exceiver_meta}};
    tokens = token_features(data, models::TokenInput::from_meta(exceiver_meta, o.finetune_model));
    model_options.input_dim = exceiver_options->dim;
  } else if (o.embedding == "pca") {
    model_options.input_dim = pca_components;
  } else {
    features = embedding_features(data, o.embedding);
    model_options.input_dim = features.size(1);
  }
  Bundle bundle(model_options, pca_genes, pca_components, exceiver_options);
  if (finetune) {
    if (!o.from_scratch) models::load_model_weights(o.finetune_model, *bundle->exceiver);
    if (o.freeze)
      for (auto& item : bundle->exceiver->named_parameters())
        if (item.key().rfind("class_", 0) != 0) item.value().set_requires_grad(false);
    bundle->exceiver->eval();
    features = exceiver_features_in_batches(bundle, *tokens);  // for standardisation and as a start
  }
  if (o.embedding == "pca") {
    torch::Tensor expression = expression_for_pca(data, *preprocessor);
    bundle->pca->fit(take(expression, unsupervised_fit), o.train.seed);
    torch::NoGradGuard no_grad;
    features = bundle->pca->forward(expression);
    spdlog::info("baseline features: {} highly variable genes, scaled, truncated SVD to {} on {} training cells", pca_genes,
                 pca_components, unsupervised_fit.size());
  }
  bundle->classifier->fit_standardisation(take(features, parts.train));
  bundle->classifier->set_training_cells(take(features, parts.train));  // gcn: the graph new cells join

  // Drop training/validation cells whose label is not a training class (cannot happen for train).
  torch::Tensor targets = torch::tensor(std::vector<int64_t>(y.begin(), y.end()), torch::kLong);
  std::vector<int64_t> validation;
  for (int64_t r : parts.validation)
    if (y[r] >= 0) validation.push_back(r);
  torch::Tensor weight = torch::ones({model_options.n_classes});
  if (o.balanced) {
    std::vector<double> count(classes.size(), 0);
    for (int64_t r : parts.train) ++count[y[r]];
    for (size_t c = 0; c < classes.size(); ++c)
      weight[c] = static_cast<float>(static_cast<double>(parts.train.size()) / (classes.size() * std::max(count[c], 1.0)));
  }
  auto features_for = [&](const std::vector<int64_t>& rows) {
    return finetune ? exceiver_features(bundle, *tokens, rows) : take(features, rows);
  };
  auto loss_on = [&](const std::vector<int64_t>& rows) {
    return torch::nn::functional::cross_entropy(bundle->classifier->forward(features_for(rows)), take(targets, rows),
                                                torch::nn::functional::CrossEntropyFuncOptions().weight(weight));
  };
  train::TrainOptions train_options = o.train;
  if (train_options.checkpoint.empty()) train_options.checkpoint = o.out + ".ckpt";
  if (train_options.label == "train") train_options.label = fmt::format("classify {}", o.model.head);
  std::vector<int64_t> train_rows = parts.train;
  torch::nn::Module& trained = finetune ? static_cast<torch::nn::Module&>(*bundle) : *bundle->classifier;
  train::TrainResult result = train::fit(
      trained, static_cast<int64_t>(train_rows.size()),
      [&](const std::vector<int64_t>& batch) {
        std::vector<int64_t> rows;
        for (int64_t i : batch) rows.push_back(train_rows[i]);
        if (model_options.head != models::Head::Gcn) return loss_on(rows);
        // gcn: convolve over the whole training graph, take the loss on this batch of its cells.
        torch::Tensor logits = bundle->classifier->forward_training({}).index_select(0, torch::tensor(batch, torch::kLong));
        return torch::nn::functional::cross_entropy(logits, take(targets, rows),
                                                    torch::nn::functional::CrossEntropyFuncOptions().weight(weight));
      },
      validation.empty() ? train::ValidationLoss{}
                         : train::ValidationLoss([&] { return train::evaluate_in_batches(trained, validation, finetune ? 256 : 4096, loss_on); }),
      train_options);
  if (!result.completed) fail("classify train: stopped after epoch {} as asked (--stop-after); resume with --resume", result.history.back().epoch);

  std::vector<int64_t> test = parts.test.empty() ? parts.train : parts.test;
  if (finetune) {
    bundle->eval();
    features = exceiver_features_in_batches(bundle, *tokens);
  }
  Prediction p = predict(bundle, take(features, test));
  std::vector<int> truth;
  for (int64_t r : test) truth.push_back(y[r]);
  nlohmann::json metrics = eval::classification_metrics(classes, truth, p.predicted, p.probabilities);
  metrics["evaluated_on"] = parts.test.empty() ? "training cells (no test part)" : "test part of the split";

  nlohmann::json meta = {{"model", model_options.to_json()},
                         {"classes", classes},
                         {"label", o.label},
                         {"features", features_meta},
                         {"balanced_class_weights", o.balanced},
                         {"test_metrics", metrics},
                         {"run", run_metadata(finetune ? "finetune" : "classify train", o.data.path, o.data.matrix, o.data.cells, o.train, result, parts)}};
  models::save_model(o.out, kKind, meta, *bundle);
  std::error_code ec;
  std::filesystem::remove(train_options.checkpoint, ec);
  return metrics;
}

namespace {

// The cells of `o.data`, narrowed to one part of a split when asked.
AnnData cells_to_evaluate(const ClassifyApplyOptions& o) { return load_split_part(o.data, o.split_file, o.part); }

// Metrics of a loaded classifier on the labelled cells of `data`.
nlohmann::json evaluate_cells(LoadedClassifier& c, const AnnData& data, const std::string& label, const std::string& source) {
  const Column& labels = data.obs.require(label);
  std::vector<int64_t> labelled;
  for (size_t i = 0; i < labels.size(); ++i)
    if (!labels.is_missing(i)) labelled.push_back(static_cast<int64_t>(i));
  if (labelled.empty()) fail("{}: no selected cell has a value in '{}'", source, label);
  AnnData cells = data.select_cells(labelled);
  Prediction p = predict(c.bundle, features_of(c, cells));
  std::vector<int> truth = class_indices(cells.obs.require(label), c.classes);
  nlohmann::json metrics = eval::classification_metrics(c.classes, truth, p.predicted, p.probabilities);
  auto unseen = std::count(truth.begin(), truth.end(), -1);
  if (unseen > 0) {
    metrics["cells_with_unseen_label"] = unseen;
    spdlog::warn("{}: {} cells have a '{}' value the classifier never saw; they count as errors", source, unseen, label);
  }
  return metrics;
}

}  // namespace

nlohmann::json classify_evaluate(const ClassifyApplyOptions& o) {
  if (o.label.empty()) fail("classify evaluate: --label is required");
  LoadedClassifier c = load_classifier(o.model);
  return evaluate_cells(c, cells_to_evaluate(o), o.label, o.data.path);
}

nlohmann::json zeroshot(const ZeroShotOptions& o) {
  if (o.groups.empty()) fail("zeroshot: give at least one --group NAME:SELECTION");
  if (o.evaluate.label.empty()) fail("zeroshot: --label is required");
  std::vector<std::pair<std::string, CellSelection>> groups;
  for (const auto& group : o.groups) {
    size_t colon = group.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == group.size())
      fail("zeroshot: group '{}' must be NAME:SELECTION, e.g. monocytic:cell_type=Mono,ProMono", group);
    groups.emplace_back(group.substr(0, colon), parse_selection(group.substr(colon + 1)));
  }
  // Model and cells are loaded once; each group is a selection among them.
  LoadedClassifier c = load_classifier(o.evaluate.model);
  AnnData data = cells_to_evaluate(o.evaluate);
  nlohmann::json result = nlohmann::json::object();
  for (const auto& [name, selection] : groups)
    result[name] = evaluate_cells(c, data.select_cells(select_rows(data.obs, selection, o.evaluate.data.path)),
                                  o.evaluate.label, o.evaluate.data.path);
  return result;
}

int64_t classify_predict(const ClassifyApplyOptions& o) {
  if (o.out.empty()) fail("classify predict: --out is required");
  check_output_directory(o.out);
  LoadedClassifier c = load_classifier(o.model);
  AnnData data = load_cells(o.data);
  Prediction p = predict(c.bundle, features_of(c, data));
  io::H5adAdditions additions;
  std::vector<std::string> names;
  for (int k : p.predicted) names.push_back(c.classes[k]);
  additions.obs_columns.push_back(Column::make_categorical(o.prefix + "_prediction", names, c.classes));
  for (size_t k = 0; k < c.classes.size(); ++k) {
    std::vector<double> probability(data.n_cells());
    for (int64_t i = 0; i < data.n_cells(); ++i) probability[i] = p.probabilities[i * c.classes.size() + k];
    additions.obs_columns.push_back(Column::make_floats(o.prefix + "_p_" + c.classes[k], probability));
  }
  additions.uns["marrow_classify"] = {{"model", o.model}, {"classes", c.classes}, {"label", c.header.meta.value("label", "")},
                                      {"marrow_version", kVersion}};
  write_results(o.data, data, additions, o.out);
  return data.n_cells();
}

}  // namespace marrow::workflow
