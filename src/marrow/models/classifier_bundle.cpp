#include "marrow/models/classifier_bundle.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <numeric>

#include "marrow/core/error.hpp"
#include "marrow/core/random.hpp"
#include "marrow/models/model_file.hpp"
#include "marrow/models/token_batching.hpp"

namespace marrow::models {

ClassifierBundleImpl::ClassifierBundleImpl(const ClassifierOptions& options, int64_t pca_genes, int64_t pca_components,
                                           const std::optional<ExceiverOptions>& gene_model,
                                           const std::optional<AutoencoderOptions>& autoencoder_options) {
  classifier = register_module("classifier", Classifier(options));
  if (pca_genes > 0) pca = register_module("pca", PcaProjection(pca_genes, pca_components));
  if (gene_model) exceiver = register_module("exceiver", Exceiver(*gene_model));
  if (autoencoder_options) autoencoder = register_module("autoencoder", Autoencoder(*autoencoder_options));
}

std::string ClassifierBundleImpl::pretrained_prefix() const {
  if (exceiver) return "exceiver.";
  if (autoencoder) return "autoencoder.";
  return "";
}

namespace {

// The gene model reads cells as token sets over its vocabulary, whole (nothing masked).
class GeneModelInput final : public EncoderInput {
 public:
  GeneModelInput(const AnnData& data, const TokenInput& input) : cells_(input.tokenize(data)), whole_(input.whole_cells()) {}
  torch::Tensor features(ClassifierBundle& bundle, const std::vector<int64_t>& rows) const override {
    Rng rng(0);
    std::vector<CellExample> examples;
    for (int64_t r : rows) examples.push_back(make_example(cells_, r, whole_, rng));
    return bundle->exceiver->class_representation(bundle->exceiver->encode(to_batch(examples, false)));
  }
  torch::Tensor features_in_batches(ClassifierBundle& bundle) const override {
    bundle->eval();
    torch::NoGradGuard no_grad;
    return over_whole_cells(cells_, whole_, 256, [&](const TokenBatch& b) {
      return bundle->exceiver->class_representation(bundle->exceiver->encode(b));
    });
  }
  int64_t evaluation_batch() const override { return 256; }

 private:
  preprocess::TokenCells cells_;
  MaskingOptions whole_;
};

// The autoencoder reads cells through the preprocessing fitted at pretraining.
class AutoencoderInput final : public EncoderInput {
 public:
  AutoencoderInput(const AnnData& data, const nlohmann::json& model_meta)
      : preprocessor_(preprocess::Preprocessor::from_json(model_meta.at("preprocessing"))),
        input_(preprocessor_.model_input(data)),
        layout_(encoding_layout(model_meta, preprocessor_)) {}
  torch::Tensor features(ClassifierBundle& bundle, const std::vector<int64_t>& rows) const override {
    return bundle->autoencoder->encode(make_batch(preprocessor_, input_, rows, layout_));
  }
  torch::Tensor features_in_batches(ClassifierBundle& bundle) const override {
    bundle->eval();
    torch::NoGradGuard no_grad;
    const int64_t n = input_.log_normalised.rows;
    std::vector<torch::Tensor> parts;
    for (int64_t start = 0; start < n; start += kBatch) {
      std::vector<int64_t> rows(static_cast<size_t>(std::min(n, start + kBatch) - start));
      std::iota(rows.begin(), rows.end(), start);
      parts.push_back(features(bundle, rows).cpu());
    }
    return parts.empty() ? torch::zeros({0, bundle->autoencoder->options().latent}) : torch::cat(parts);
  }
  int64_t evaluation_batch() const override { return kBatch; }

 private:
  static constexpr int64_t kBatch = 1024;
  preprocess::Preprocessor preprocessor_;
  preprocess::Preprocessor::ModelInput input_;
  BatchLayout layout_;
};

}  // namespace

std::unique_ptr<EncoderInput> gene_model_input(const AnnData& data, const TokenInput& input) {
  return std::make_unique<GeneModelInput>(data, input);
}

std::unique_ptr<EncoderInput> autoencoder_input(const AnnData& data, const nlohmann::json& model_meta) {
  return std::make_unique<AutoencoderInput>(data, model_meta);
}

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

torch::Tensor take_rows(const torch::Tensor& t, const std::vector<int64_t>& rows) {
  return t.index_select(0, torch::tensor(rows, torch::kLong));
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

Prediction predict(ClassifierBundle& bundle, const torch::Tensor& features) {
  bundle->eval();
  torch::NoGradGuard no_grad;
  Prediction p;
  torch::Tensor probabilities = torch::softmax(bundle->classifier->forward(features), 1).contiguous();
  torch::Tensor predicted = probabilities.argmax(1).to(torch::kInt).contiguous();
  p.predicted.assign(predicted.data_ptr<int>(), predicted.data_ptr<int>() + predicted.numel());
  p.probabilities.assign(probabilities.data_ptr<float>(), probabilities.data_ptr<float>() + probabilities.numel());
  return p;
}

void apply_threshold(Prediction& p, double threshold) {
  if (p.probabilities.size() != 2 * p.predicted.size()) return;
  for (size_t i = 0; i < p.predicted.size(); ++i) p.predicted[i] = p.probabilities[2 * i + 1] >= threshold ? 1 : 0;
}

SavedClassifier SavedClassifier::load(const std::string& path) {
  SavedClassifier c;
  c.header_ = read_model_header(path, kClassifierKind);
  std::optional<preprocess::Preprocessor> preprocessor;
  try {
    const nlohmann::json& meta = c.header_.meta;
    const nlohmann::json& features = meta.at("features");
    c.classes_ = meta.at("classes").get<std::vector<std::string>>();
    c.features_ = ClassifierFeatures::from_stored(features.at("embedding"));
    int64_t pca_genes = 0, pca_components = 0;
    std::optional<ExceiverOptions> gene_model;
    std::optional<AutoencoderOptions> autoencoder;
    switch (c.features_.kind) {
      case FeatureKind::Pca:
        preprocessor = preprocess::Preprocessor::from_json(features.at("preprocessing"));
        pca_genes = static_cast<int64_t>(preprocessor->output_genes().size());
        pca_components = features.at("components");
        break;
      case FeatureKind::Hvg: c.hvg_ = preprocess::Preprocessor::from_json(features.at("preprocessing")); break;
      case FeatureKind::GeneModel:
        c.gene_model_input_ = TokenInput::from_meta(features.at("exceiver"), path);
        gene_model = ExceiverOptions::from_json(features.at("exceiver").at("model"));
        break;
      case FeatureKind::Autoencoder:
        c.autoencoder_meta_ = features.at("autoencoder");
        autoencoder = AutoencoderOptions::from_json(c.autoencoder_meta_.at("model"));
        break;
      case FeatureKind::Embedding: break;
    }
    c.bundle_ = ClassifierBundle(ClassifierOptions::from_json(meta.at("model")), pca_genes, pca_components, gene_model, autoencoder);
    if (meta.contains("threshold") && !meta["threshold"].is_null()) c.threshold_ = meta["threshold"].get<double>();
  } catch (const nlohmann::json::exception& e) {
    fail("{}: classifier metadata is incomplete: {}", path, e.what());
  }
  load_model_weights(path, *c.bundle_);
  if (preprocessor) c.pca_ = std::make_unique<PcaEncoder>(path, c.header_.meta.at("features"), std::move(*preprocessor), c.bundle_->pca);
  return c;
}

torch::Tensor SavedClassifier::features(const AnnData& data) {
  switch (features_.kind) {
    case FeatureKind::GeneModel: return gene_model_input(data, *gene_model_input_)->features_in_batches(bundle_);
    case FeatureKind::Autoencoder:
      return autoencoder_input(data, autoencoder_meta_)->features_in_batches(bundle_);
    case FeatureKind::Pca: return pca_->project(pca_->expression(data));
    case FeatureKind::Hvg: return scaled_expression(*hvg_, data);
    case FeatureKind::Embedding: break;
  }
  return embedding_features(data, features_.obsm_key);
}

Prediction SavedClassifier::predict(const AnnData& data) {
  Prediction p = models::predict(bundle_, features(data));
  if (threshold_) apply_threshold(p, *threshold_);
  return p;
}

}  // namespace marrow::models
