#include "marrow/models/classifier.hpp"

#include "marrow/core/error.hpp"
#include "marrow/models/autoencoder.hpp"

namespace marrow::models {

nlohmann::json ClassifierOptions::to_json() const {
  return {{"head", head},     {"input_dim", input_dim}, {"n_classes", n_classes}, {"hidden", hidden},
          {"activation", activation}, {"norm", norm}, {"dropout", dropout}};
}

ClassifierOptions ClassifierOptions::from_json(const nlohmann::json& j) {
  ClassifierOptions o;
  o.head = j.at("head");
  o.input_dim = j.at("input_dim");
  o.n_classes = j.at("n_classes");
  o.hidden = j.at("hidden").get<std::vector<int64_t>>();
  o.activation = j.at("activation");
  o.norm = j.at("norm");
  o.dropout = j.at("dropout");
  return o;
}

ClassifierImpl::ClassifierImpl(ClassifierOptions options) : options_(std::move(options)) {
  if (options_.input_dim <= 0) fail("classifier needs a non-empty input");
  if (options_.n_classes < 2) fail("classifier needs at least 2 classes, got {}", options_.n_classes);
  mean_ = register_buffer("input_mean", torch::zeros({options_.input_dim}));
  sd_ = register_buffer("input_sd", torch::ones({options_.input_dim}));
  body = torch::nn::Sequential();
  if (options_.head == "linear") {
    body->push_back(torch::nn::Linear(options_.input_dim, options_.n_classes));
  } else if (options_.head == "mlp") {
    int64_t previous = options_.input_dim;
    for (int64_t width : options_.hidden) {
      body->push_back(torch::nn::Linear(previous, width));
      append_block(body, width, options_.norm, options_.activation, options_.dropout);
      previous = width;
    }
    body->push_back(torch::nn::Linear(previous, options_.n_classes));
  } else {
    fail("unknown classifier head '{}' (linear, mlp)", options_.head);
  }
  register_module("body", body);
}

void ClassifierImpl::fit_standardisation(const torch::Tensor& features) {
  torch::NoGradGuard no_grad;
  mean_.copy_(features.mean(0));
  sd_.copy_(features.std(0).clamp_min(1e-6));
}

torch::Tensor ClassifierImpl::forward(const torch::Tensor& features) { return body->forward((features - mean_) / sd_); }

PcaProjectionImpl::PcaProjectionImpl(int64_t genes, int64_t components) {
  mean_ = register_buffer("mean", torch::zeros({genes}));
  components_ = register_buffer("components", torch::zeros({genes, components}));
}

void PcaProjectionImpl::fit(const torch::Tensor& data, uint64_t seed) {
  torch::NoGradGuard no_grad;
  int64_t k = components_.size(1);
  if (data.size(0) < 2) fail("PCA needs at least 2 training cells");
  torch::Tensor mean = data.mean(0);
  torch::Tensor centred = data - mean;
  int64_t rank = std::min({k + 10, centred.size(0), centred.size(1)});
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::Tensor q = std::get<0>(torch::linalg_qr(torch::mm(centred, at::randn({centred.size(1), rank}, generator))));
  for (int i = 0; i < 4; ++i) {  // power iterations sharpen the spectrum
    q = std::get<0>(torch::linalg_qr(torch::mm(centred.t(), q)));
    q = std::get<0>(torch::linalg_qr(torch::mm(centred, q)));
  }
  torch::Tensor b = torch::mm(q.t(), centred);  // [rank, genes]
  auto [u, s, vh] = torch::linalg_svd(b, false);
  int64_t kept = std::min(k, vh.size(0));
  components_.zero_();
  components_.narrow(1, 0, kept).copy_(vh.narrow(0, 0, kept).t());
  mean_.copy_(mean);
}

torch::Tensor PcaProjectionImpl::forward(const torch::Tensor& data) { return torch::mm(data - mean_, components_); }

}  // namespace marrow::models
