#include "marrow/workflow/classify.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/version.hpp"
#include "marrow/data/selection.hpp"
#include "marrow/eval/metrics.hpp"
#include "marrow/io/h5ad_writer.hpp"
#include "marrow/models/classifier_bundle.hpp"
#include "marrow/models/model_file.hpp"
#include "marrow/train/trainer.hpp"
#include "marrow/workflow/run_metadata.hpp"

namespace marrow::workflow {

using models::ClassifierBundle;
using models::FeatureKind;

namespace {

// The labelled cells, their split (label budget applied) and the classes among the training cells.
struct LabelledCells {
  AnnData data;
  Parts parts;
  std::vector<int64_t> unsupervised_fit;  // every training-part cell: the baseline's PCA reads no labels
  std::vector<std::string> classes;
  std::vector<int> y;                     // class index of each cell, -1 for a class not trained on
};

// A seeded share of the training and validation parts (the validation part, for early stopping,
// reads labels too, so it shrinks with the budget).
void apply_label_budget(const Column& labels, Parts& parts, double fraction, uint64_t seed) {
  std::vector<int64_t> kept = stratified_sample(labels, parts.train, fraction, seed);
  std::vector<int64_t> kept_validation;
  if (!parts.validation.empty()) kept_validation = stratified_sample(labels, parts.validation, fraction, seed + 1);
  spdlog::info("label budget: {} of {} training and {} of {} validation cells ({:.1f}%)", kept.size(), parts.train.size(),
               kept_validation.size(), parts.validation.size(), 100 * fraction);
  parts.train = std::move(kept);
  parts.validation = std::move(kept_validation);
}

// The label values among the training cells, in the column's order; at least two.
std::vector<std::string> training_classes(const Column& labels, const std::vector<int64_t>& train, const ClassifyTrainOptions& o) {
  std::vector<std::string> classes;
  for (const auto& [value, count] : labels.subset(train).value_counts())
    if (count > 0) classes.push_back(value);
  if (classes.size() < 2)
    fail("{}: label '{}' has {} class{} among the training cells; a classifier needs at least 2", o.data.path, o.label,
         classes.size(), classes.size() == 1 ? " ('" + classes.front() + "')" : "es");
  return classes;
}

LabelledCells labelled_cells(const ClassifyTrainOptions& o) {
  if (o.label_fraction <= 0 || o.label_fraction > 1) fail("--label-fraction must be in (0, 1], got {}", o.label_fraction);
  AnnData all = load_cells(o.data);
  LabelledCells c{all.select_cells(rows_with_value(all.obs.require(o.label))), {}, {}, {}, {}};
  const Column& labels = c.data.obs.require(o.label);
  c.parts = resolve_parts(c.data.obs, o.split, o.data.path);
  c.unsupervised_fit = c.parts.train;  // also under a label budget, as a user with few annotated cells would fit it
  if (o.label_fraction < 1) apply_label_budget(labels, c.parts, o.label_fraction, o.split.seed);
  c.classes = training_classes(labels, c.parts.train, o);
  c.y = models::class_indices(labels, c.classes);
  return c;
}

// The classifier to train and the features its head reads.
struct Setup {
  models::ClassifierOptions model;
  ClassifierBundle bundle{nullptr};
  torch::Tensor features;                             // every cell's (fine-tuning: at the start)
  std::unique_ptr<models::EncoderInput> encoder_input;  // fine-tuning: the cells as the pretrained model reads them
  nlohmann::json features_meta;                       // stored in the classifier file
  bool finetune() const { return encoder_input != nullptr; }
};

// The PCA baseline: preprocessing and projection fitted on the training part's cells.
Setup baseline_setup(const ClassifyTrainOptions& o, const LabelledCells& c, models::ClassifierOptions model) {
  const size_t n_fit = c.unsupervised_fit.size();
  if (n_fit < 2) fail("{}: too few training cells ({}) for the PCA baseline", o.data.path, n_fit);
  auto pca = models::PcaEncoder::fit(c.data.select_cells(c.unsupervised_fit), o.pca_genes, o.pca_components, o.train.seed);
  const auto genes = static_cast<int64_t>(pca->genes().size());
  model.input_dim = pca->width();
  torch::manual_seed(o.train.seed);
  Setup s{model, ClassifierBundle(model, genes, pca->width()), {}, {}, {}};
  s.bundle->pca = s.bundle->replace_module("pca", pca->projection());
  s.features = pca->project(pca->expression(c.data));
  s.features_meta = {{"embedding", "pca"}, {"preprocessing", pca->preprocessor().to_json()}, {"components", pca->width()}};
  spdlog::info("baseline features: {} highly variable genes, scaled, truncated SVD to {} on {} training cells", genes,
               pca->width(), n_fit);
  return s;
}

// The highly-variable-genes baseline: its preprocessing fitted on the training part's cells, the
// scaled genes as features.
Setup hvg_setup(const ClassifyTrainOptions& o, const LabelledCells& c, models::ClassifierOptions model) {
  if (c.unsupervised_fit.size() < 2) fail("{}: too few training cells ({}) for the HVG baseline", o.data.path, c.unsupervised_fit.size());
  preprocess::Preprocessor preprocessor = models::fit_baseline_preprocessing(c.data.select_cells(c.unsupervised_fit), o.pca_genes);
  torch::Tensor features = models::scaled_expression(preprocessor, c.data);
  model.input_dim = features.size(1);
  torch::manual_seed(o.train.seed);
  spdlog::info("baseline features: {} highly variable genes, scaled, fitted on {} training cells", features.size(1),
               c.unsupervised_fit.size());
  return {model, ClassifierBundle(model, 0, 0), features, {}, {{"embedding", o.embedding.name()}, {"preprocessing", preprocessor.to_json()}}};
}

Setup embedding_setup(const ClassifyTrainOptions& o, const LabelledCells& c, models::ClassifierOptions model) {
  torch::manual_seed(o.train.seed);
  torch::Tensor features = models::embedding_features(c.data, o.embedding.obsm_key);
  model.input_dim = features.size(1);
  return {model, ClassifierBundle(model, 0, 0), features, {}, {{"embedding", o.embedding.name()}}};
}

// What fine-tuning stores of the pretrained model (kind exceiver or autoencoder) in the classifier:
// its architecture and how it reads cells, and where its weights came from.
nlohmann::json pretrained_meta(const models::ModelHeader& pretrained, const ClassifyTrainOptions& o,
                               std::initializer_list<const char*> keys) {
  nlohmann::json meta = {{"pretrained", o.from_scratch ? "" : o.finetune_model}, {"architecture_of", o.finetune_model}, {"frozen", o.freeze}};
  for (const char* key : keys)
    if (pretrained.meta.contains(key)) meta[key] = pretrained.meta.at(key);
  return meta;
}

// --freeze: only the parameters whose name starts with `trained_prefix` (and the head) learn.
void freeze_except(torch::nn::Module& pretrained, const std::string& trained_prefix) {
  for (auto& item : pretrained.named_parameters())
    if (trained_prefix.empty() || item.key().rfind(trained_prefix, 0) != 0) item.value().set_requires_grad(false);
}

// A gene model: its class query's view of each cell feeds the head, and the model trains with it
// (or stays frozen but for the class query with --freeze).
Setup gene_model_setup(const ClassifyTrainOptions& o, const LabelledCells& c, models::ClassifierOptions model,
                       const models::ModelHeader& pretrained) {
  const auto gene_model = models::ExceiverOptions::from_json(pretrained.meta.at("model"));
  nlohmann::json meta = pretrained_meta(pretrained, o, {"model", "vocabulary", "target_sum", "masking"});
  Setup s{model, nullptr, {}, models::gene_model_input(c.data, models::TokenInput::from_meta(meta, o.finetune_model)),
          {{"embedding", models::ClassifierFeatures::gene_model().name()}, {"exceiver", meta}}};
  s.model.input_dim = gene_model.dim;
  s.bundle = ClassifierBundle(s.model, 0, 0, gene_model);
  if (!o.from_scratch) models::load_model_weights(o.finetune_model, *s.bundle->exceiver);
  if (o.freeze) freeze_except(*s.bundle->exceiver, "class_");
  return s;
}

// An autoencoder (or VAE): its embedding of each cell, through the preprocessing fitted at
// pretraining, feeds the head; the encoder trains with it (--freeze: it stays as pretrained).
Setup autoencoder_setup(const ClassifyTrainOptions& o, const LabelledCells& c, models::ClassifierOptions model,
                        const models::ModelHeader& pretrained) {
  const auto options = models::AutoencoderOptions::from_json(pretrained.meta.at("model"));
  nlohmann::json meta = pretrained_meta(pretrained, o, {"model", "preprocessing", "input_layer"});
  Setup s{model, nullptr, {}, models::autoencoder_input(c.data, meta),
          {{"embedding", models::ClassifierFeatures::autoencoder().name()}, {"autoencoder", meta}}};
  s.model.input_dim = options.latent;
  s.bundle = ClassifierBundle(s.model, 0, 0, std::nullopt, options);
  if (!o.from_scratch) models::load_model_weights(o.finetune_model, *s.bundle->autoencoder);
  if (o.freeze) freeze_except(*s.bundle->autoencoder, "");
  return s;
}

// Fine-tuning (`marrow finetune`): the pretrained model of either kind under a new head, trained end
// to end (--from-scratch: the same architecture randomly initialised, the control).
Setup finetune_setup(const ClassifyTrainOptions& o, const LabelledCells& c, models::ClassifierOptions model) {
  if (model.head == models::Head::Gcn) fail("finetune: the gcn head needs fixed features; use linear, mlp or transformer");
  torch::manual_seed(o.train.seed);
  const models::ModelHeader pretrained = models::read_model_header(o.finetune_model);
  // A pretrained kind's file name is the name its fine-tuned features are stored under.
  const models::ClassifierFeatures kind = models::ClassifierFeatures::from_stored(pretrained.kind);
  if (!kind.is_finetuned())
    fail("{}: a '{}' model cannot be fine-tuned (autoencoder and exceiver models can)", o.finetune_model, pretrained.kind);
  Setup s = kind.kind == FeatureKind::GeneModel ? gene_model_setup(o, c, model, pretrained) : autoencoder_setup(o, c, model, pretrained);
  s.features = s.encoder_input->features_in_batches(s.bundle);  // for standardisation and as a start
  return s;
}

Setup classifier_setup(const ClassifyTrainOptions& o, const LabelledCells& c) {
  models::ClassifierOptions model = o.model;
  model.n_classes = static_cast<int64_t>(c.classes.size());
  Setup s = !o.finetune_model.empty()             ? finetune_setup(o, c, model)
            : o.embedding.kind == FeatureKind::Pca ? baseline_setup(o, c, model)
            : o.embedding.kind == FeatureKind::Hvg ? hvg_setup(o, c, model)
                                                   : embedding_setup(o, c, model);
  s.bundle->classifier->fit_standardisation(models::take_rows(s.features, c.parts.train));
  s.bundle->classifier->set_training_cells(models::take_rows(s.features, c.parts.train));  // gcn: the graph new cells join
  return s;
}

// Class weights n / (k n_c) over the training cells, or all ones.
torch::Tensor class_weights(const LabelledCells& c, bool balanced) {
  torch::Tensor weight = torch::ones({static_cast<int64_t>(c.classes.size())});
  if (!balanced) return weight;
  std::vector<double> count(c.classes.size(), 0);
  for (int64_t r : c.parts.train) ++count[c.y[r]];
  for (size_t k = 0; k < c.classes.size(); ++k)
    weight[k] = static_cast<float>(static_cast<double>(c.parts.train.size()) / (c.classes.size() * std::max(count[k], 1.0)));
  return weight;
}

// Trains the head (fine-tuning: with the gene model) with early stopping on the validation part.
train::TrainResult train_classifier(Setup& s, const LabelledCells& c, const ClassifyTrainOptions& o, const train::TrainOptions& options) {
  const torch::Tensor targets = torch::tensor(std::vector<int64_t>(c.y.begin(), c.y.end()), torch::kLong);
  const auto cross_entropy = torch::nn::functional::CrossEntropyFuncOptions().weight(class_weights(c, o.balanced));
  std::vector<int64_t> validation;  // cells whose label is a training class
  for (int64_t r : c.parts.validation)
    if (c.y[r] >= 0) validation.push_back(r);
  auto loss_on = [&](const std::vector<int64_t>& rows) {
    torch::Tensor x = s.finetune() ? s.encoder_input->features(s.bundle, rows) : models::take_rows(s.features, rows);
    return torch::nn::functional::cross_entropy(s.bundle->classifier->forward(x), models::take_rows(targets, rows), cross_entropy);
  };
  const std::vector<int64_t>& train_rows = c.parts.train;
  torch::nn::Module& trained = s.finetune() ? static_cast<torch::nn::Module&>(*s.bundle) : *s.bundle->classifier;
  auto batch_loss = [&](const std::vector<int64_t>& batch) {
    std::vector<int64_t> rows;
    for (int64_t i : batch) rows.push_back(train_rows[i]);
    if (s.model.head != models::Head::Gcn) return loss_on(rows);
    // gcn: convolve over the whole training graph, take the loss on this batch of its cells.
    torch::Tensor logits = s.bundle->classifier->forward_training({}).index_select(0, torch::tensor(batch, torch::kLong));
    return torch::nn::functional::cross_entropy(logits, models::take_rows(targets, rows), cross_entropy);
  };
  train::ValidationLoss validation_loss;
  if (!validation.empty())
    validation_loss = [&] {
      return train::evaluate_in_batches(trained, validation, s.finetune() ? s.encoder_input->evaluation_batch() : 4096, loss_on);
    };
  train::TrainResult result = train::fit(trained, static_cast<int64_t>(train_rows.size()), batch_loss, validation_loss, options);
  if (!result.completed) fail("classify train: stopped after epoch {} as asked (--stop-after); resume with --resume", result.history.back().epoch);
  return result;
}

// Every cell's features as the trained model makes them (fine-tuning changed the gene model's).
void refresh_features(Setup& s) {
  if (s.finetune()) s.features = s.encoder_input->features_in_batches(s.bundle);
}

// A binary classifier's decision threshold, chosen by the rule on the validation part's cells.
struct Threshold {
  std::optional<double> value;  // absent for more than two classes
  std::string chosen_on;
  nlohmann::json to_json(eval::ThresholdRule rule) const {
    if (!value) return nullptr;
    return {{"value", *value}, {"rule", rule}, {"chosen_on", chosen_on}};
  }
};

Threshold choose_threshold(Setup& s, const LabelledCells& c, eval::ThresholdRule rule) {
  if (c.classes.size() != 2) return {};
  std::vector<int64_t> rows;
  for (int64_t r : c.parts.validation)
    if (c.y[r] >= 0) rows.push_back(r);
  if (rows.empty() || rule == eval::ThresholdRule::None)
    return {0.5, rule == eval::ThresholdRule::None ? "none (rule none)" : "none (no validation part): 0.5"};
  models::Prediction p = models::predict(s.bundle, models::take_rows(s.features, rows));
  std::vector<float> score;
  std::vector<uint8_t> positive;
  for (size_t i = 0; i < rows.size(); ++i) {
    score.push_back(p.probabilities[2 * i + 1]);
    positive.push_back(c.y[rows[i]] == 1);
  }
  const double t = eval::choose_threshold(score, positive, rule);
  spdlog::info("decision threshold for '{}': {:.3f} ({} on {} validation cells)", c.classes[1], t, enum_name(rule), rows.size());
  return {t, fmt::format("validation part ({} cells)", rows.size())};
}

// Metrics on the split's test part (on the training cells, marked so, when there is none), at the threshold.
nlohmann::json test_metrics(Setup& s, const LabelledCells& c, const Threshold& threshold) {
  const std::vector<int64_t>& test = c.parts.test.empty() ? c.parts.train : c.parts.test;
  models::Prediction p = models::predict(s.bundle, models::take_rows(s.features, test));
  if (threshold.value) models::apply_threshold(p, *threshold.value);
  std::vector<int> truth;
  for (int64_t r : test) truth.push_back(c.y[r]);
  nlohmann::json metrics = eval::classification_metrics(c.classes, truth, p.predicted, p.probabilities);
  if (threshold.value) metrics["threshold"] = *threshold.value;
  metrics["evaluated_on"] = c.parts.test.empty() ? "training cells (no test part)" : "test part of the split";
  return metrics;
}

}  // namespace

DenseMatrix baseline_embedding(const AnnData& data, const std::vector<int64_t>& fit_rows, FeatureKind kind, int64_t genes,
                               int64_t components, uint64_t seed) {
  torch::Tensor z;
  if (kind == FeatureKind::Hvg) {
    z = models::scaled_expression(models::fit_baseline_preprocessing(data.select_cells(fit_rows), genes), data).contiguous();
  } else {
    auto pca = models::PcaEncoder::fit(data.select_cells(fit_rows), genes, components, seed);
    z = pca->project(pca->expression(data)).contiguous();
  }
  return DenseMatrix{z.size(0), z.size(1), std::vector<float>(z.data_ptr<float>(), z.data_ptr<float>() + z.numel())};
}

nlohmann::json classify_train(const ClassifyTrainOptions& o) {
  if (o.out.empty()) fail("classify train: --out is required");
  if (o.label.empty()) fail("classify train: --label is required");
  check_output_directory(o.out);
  check_output_directory(o.train.metrics);
  const LabelledCells cells = labelled_cells(o);
  Setup setup = classifier_setup(o, cells);
  train::TrainOptions train_options = o.train;
  if (setup.finetune()) train_options.learning_rate_factors = {{setup.bundle->pretrained_prefix(), o.encoder_learning_rate_factor}};
  if (train_options.checkpoint.empty()) train_options.checkpoint = o.out + ".ckpt";
  if (train_options.label == "train") train_options.label = fmt::format("classify {}", o.model.head);
  const train::TrainResult result = train_classifier(setup, cells, o, train_options);
  refresh_features(setup);
  const Threshold threshold = choose_threshold(setup, cells, o.threshold_rule);
  nlohmann::json metrics = test_metrics(setup, cells, threshold);
  const char* command = setup.finetune() ? "finetune" : "classify train";
  nlohmann::json meta = {{"model", setup.model.to_json()},
                         {"classes", cells.classes},
                         {"label", o.label},
                         {"features", setup.features_meta},
                         {"balanced_class_weights", o.balanced},
                         {"threshold", threshold.value ? nlohmann::json(*threshold.value) : nlohmann::json(nullptr)},
                         {"decision", threshold.to_json(o.threshold_rule)},
                         {"test_metrics", metrics},
                         {"run", run_metadata(command, o.data.path, o.data.matrix, o.data.cells, o.train, result, cells.parts)}};
  models::save_model(o.out, models::kClassifierKind, meta, *setup.bundle);
  std::error_code ec;
  std::filesystem::remove(train_options.checkpoint, ec);
  return metrics;
}

namespace {

// The cells of `o.data`, narrowed to one part of a split when asked.
AnnData cells_to_evaluate(const ClassifyApplyOptions& o) { return load_part(o.data, o.split, o.part); }

// Metrics of a loaded classifier on the labelled cells of `data`.
nlohmann::json evaluate_cells(models::SavedClassifier& c, const AnnData& data, const std::string& label, const std::string& source) {
  std::vector<int64_t> labelled = rows_with_value(data.obs.require(label));
  if (labelled.empty()) fail("{}: no selected cell has a value in '{}'", source, label);
  AnnData cells = data.select_cells(labelled);
  models::Prediction p = c.predict(cells);
  std::vector<int> truth = models::class_indices(cells.obs.require(label), c.classes());
  nlohmann::json metrics = eval::classification_metrics(c.classes(), truth, p.predicted, p.probabilities);
  if (c.threshold()) metrics["threshold"] = *c.threshold();
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
  models::SavedClassifier c = models::SavedClassifier::load(o.model);
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
  models::SavedClassifier c = models::SavedClassifier::load(o.evaluate.model);
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
  models::SavedClassifier c = models::SavedClassifier::load(o.model);
  AnnData data = load_cells(o.data);
  models::Prediction p = c.predict(data);
  const std::vector<std::string>& classes = c.classes();
  io::H5adAdditions additions;
  std::vector<std::string> names;
  for (int k : p.predicted) names.push_back(classes[k]);
  additions.obs_columns.push_back(Column::make_categorical(o.prefix + "_prediction", names, classes));
  for (size_t k = 0; k < classes.size(); ++k) {
    std::vector<double> probability(data.n_cells());
    for (int64_t i = 0; i < data.n_cells(); ++i) probability[i] = p.probabilities[i * classes.size() + k];
    additions.obs_columns.push_back(Column::make_floats(o.prefix + "_p_" + classes[k], probability));
  }
  additions.uns["marrow_classify"] = {{"model", o.model}, {"classes", classes}, {"label", c.header().meta.value("label", "")},
                                      {"marrow_version", kVersion}};
  write_results(o.data, data, additions, o.out);
  return data.n_cells();
}

}  // namespace marrow::workflow
