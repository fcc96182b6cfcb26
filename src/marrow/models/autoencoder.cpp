#include "marrow/models/autoencoder.hpp"

#include "marrow/core/error.hpp"

namespace marrow::models {

ReconstructionLoss parse_loss(const std::string& name) {
  if (name == "mse") return ReconstructionLoss::Mse;
  if (name == "poisson") return ReconstructionLoss::Poisson;
  if (name == "nb") return ReconstructionLoss::NegativeBinomial;
  fail("unknown loss '{}' (mse, poisson, nb)", name);
}

const char* loss_name(ReconstructionLoss loss) {
  switch (loss) {
    case ReconstructionLoss::Mse: return "mse";
    case ReconstructionLoss::Poisson: return "poisson";
    case ReconstructionLoss::NegativeBinomial: return "nb";
  }
  return "?";
}

nlohmann::json AutoencoderOptions::to_json() const {
  return {{"n_genes", n_genes}, {"hidden", hidden},   {"latent", latent},
          {"activation", activation}, {"norm", norm}, {"dropout", dropout},
          {"input_dropout", input_dropout}, {"loss", loss_name(loss)}};
}

AutoencoderOptions AutoencoderOptions::from_json(const nlohmann::json& j) {
  AutoencoderOptions o;
  o.n_genes = j.at("n_genes").get<int64_t>();
  o.hidden = j.at("hidden").get<std::vector<int64_t>>();
  o.latent = j.at("latent").get<int64_t>();
  o.activation = j.at("activation").get<std::string>();
  o.norm = j.at("norm").get<std::string>();
  o.dropout = j.at("dropout").get<double>();
  o.input_dropout = j.value("input_dropout", 0.0);
  o.loss = parse_loss(j.at("loss").get<std::string>());
  return o;
}

void append_block(torch::nn::Sequential& sequence, int64_t width, const std::string& norm, const std::string& activation,
                  double dropout) {
  if (norm == "layernorm") sequence->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  else if (norm == "batchnorm") sequence->push_back(torch::nn::BatchNorm1d(width));
  else if (norm != "none") fail("unknown normalisation '{}' (layernorm, batchnorm, none)", norm);
  if (activation == "relu") sequence->push_back(torch::nn::ReLU());
  else if (activation == "gelu") sequence->push_back(torch::nn::GELU());
  else if (activation == "elu") sequence->push_back(torch::nn::ELU());
  else if (activation == "tanh") sequence->push_back(torch::nn::Tanh());
  else fail("unknown activation '{}' (relu, gelu, elu, tanh)", activation);
  if (dropout > 0) sequence->push_back(torch::nn::Dropout(dropout));
}

AutoencoderImpl::AutoencoderImpl(AutoencoderOptions options) : options_(std::move(options)) {
  if (options_.n_genes <= 0) fail("autoencoder needs at least one input gene");
  if (options_.latent <= 0) fail("latent size must be positive, got {}", options_.latent);
  if (options_.dropout < 0 || options_.dropout >= 1) fail("dropout must be in [0, 1), got {}", options_.dropout);
  std::vector<int64_t> widths = options_.hidden;
  int64_t first_width = widths.empty() ? options_.latent : widths.front();
  // nn::Linear's default initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
  double bound = 1.0 / std::sqrt(static_cast<double>(options_.n_genes));
  input_weight = register_parameter("input_weight", torch::empty({options_.n_genes, first_width}).uniform_(-bound, bound));
  input_bias = register_parameter("input_bias", torch::empty({first_width}).uniform_(-bound, bound));
  encoder_rest = torch::nn::Sequential();
  if (!widths.empty()) {
    append_block(encoder_rest, widths.front(), options_.norm, options_.activation, options_.dropout);
    for (size_t i = 1; i < widths.size(); ++i) {
      encoder_rest->push_back(torch::nn::Linear(widths[i - 1], widths[i]));
      append_block(encoder_rest, widths[i], options_.norm, options_.activation, options_.dropout);
    }
    encoder_rest->push_back(torch::nn::Linear(widths.back(), options_.latent));
  }
  register_module("encoder", encoder_rest);
  decoder = torch::nn::Sequential();
  int64_t previous = options_.latent;
  for (auto it = widths.rbegin(); it != widths.rend(); ++it) {
    decoder->push_back(torch::nn::Linear(previous, *it));
    append_block(decoder, *it, options_.norm, options_.activation, options_.dropout);
    previous = *it;
  }
  decoder->push_back(torch::nn::Linear(previous, options_.n_genes));
  register_module("decoder", decoder);
  if (options_.loss == ReconstructionLoss::NegativeBinomial)
    log_theta = register_parameter("log_theta", torch::zeros({options_.n_genes}));
}

torch::Tensor AutoencoderImpl::first_layer(const CellBatch& batch) {
  if (batch.sparse.defined()) {
    // Sum of value x weight row over the expressed genes: nnz x width work instead of
    // cells x genes x width, forward and backward (embedding_bag with per-sample weights).
    torch::Tensor values = batch.sparse.values;
    if (is_training() && options_.input_dropout > 0) values = torch::dropout(values, options_.input_dropout, true);
    auto out = torch::embedding_bag(input_weight, batch.sparse.indices, batch.sparse.offsets, false, /*mode sum*/ 0, false,
                                    values, false);
    return std::get<0>(out) + input_bias;
  }
  torch::Tensor x = batch.input;
  if (is_training() && options_.input_dropout > 0) x = torch::dropout(x, options_.input_dropout, true);
  return torch::addmm(input_bias, x, input_weight);
}

CellBatch CellBatch::to(const torch::Device& device) const {
  auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
  return {move(input), {move(sparse.indices), move(sparse.offsets), move(sparse.values)}, move(counts), move(library)};
}

torch::Tensor AutoencoderImpl::encode(const CellBatch& on_host) {
  const CellBatch batch = on_host.to(input_weight.device());
  torch::Tensor x = first_layer(batch);
  return options_.hidden.empty() ? x : encoder_rest->forward(x);
}

torch::Tensor AutoencoderImpl::decode(const torch::Tensor& latent) { return decoder->forward(latent); }

torch::Tensor AutoencoderImpl::loss(const CellBatch& on_host) {
  const CellBatch batch = on_host.to(input_weight.device());
  torch::Tensor output = decode(encode(batch));
  if (options_.loss == ReconstructionLoss::Mse) return torch::mse_loss(output, batch.input);
  // scVI-style: rate = library x softmax(logits).
  torch::Tensor log_rate = torch::log_softmax(output, 1) + torch::log(batch.library.clamp_min(1.0)).unsqueeze(1);
  const torch::Tensor& x = batch.counts;
  if (options_.loss == ReconstructionLoss::Poisson)
    return (torch::exp(log_rate) - x * log_rate + torch::lgamma(x + 1)).mean();
  torch::Tensor theta = torch::exp(log_theta).unsqueeze(0);
  torch::Tensor log_theta_mu = torch::logaddexp(log_theta.unsqueeze(0), log_rate);  // log(theta + mu)
  torch::Tensor log_likelihood = torch::lgamma(x + theta) - torch::lgamma(theta) - torch::lgamma(x + 1) +
                                 theta * (log_theta.unsqueeze(0) - log_theta_mu) + x * (log_rate - log_theta_mu);
  return -log_likelihood.mean();
}

}  // namespace marrow::models
