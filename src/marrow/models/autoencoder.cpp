#include "marrow/models/autoencoder.hpp"

#include <cmath>
#include <limits>
#include <unordered_map>

#include "marrow/core/error.hpp"
#include "marrow/data/selection.hpp"
#include "marrow/models/batching.hpp"
#include "marrow/models/encoder.hpp"
#include "marrow/models/model_file.hpp"
#include "marrow/preprocess/qc.hpp"
#include "marrow/runtime/torch_runtime.hpp"

namespace marrow::models {

namespace {

// A 32-bit integer hash, elementwise on int64 tensors holding values in [0, 2^32) (no product
// exceeds 63 bits), so masks are computed on the model's device and agree between CPU and CUDA.
torch::Tensor hash32(torch::Tensor x) {
  constexpr int64_t kMask = 0xFFFFFFFF, kMultiplier = 0x45d9f3b;
  x = ((x ^ x.bitwise_right_shift(16)) * kMultiplier) & kMask;
  x = ((x ^ x.bitwise_right_shift(16)) * kMultiplier) & kMask;
  return x ^ x.bitwise_right_shift(16);
}

// Keep-mask scaled by 1/(1-p) of the entries (row key, column): each entry kept with probability
// 1 - p, decided by a hash of its row's key, the layer's salt and its column only.
torch::Tensor keep_mask(const torch::Tensor& row_keys, const torch::Tensor& columns, int64_t salt, double p,
                        torch::ScalarType type) {
  torch::Tensor h = hash32((row_keys ^ hash32(torch::tensor(salt, row_keys.options()))) ^ hash32(columns));
  torch::Tensor u = h.bitwise_right_shift(8).to(torch::kFloat) * (1.0 / (1 << 24));
  return (u >= p).to(type) * (1.0 / (1.0 - p));
}

uint64_t mix64(uint64_t x) {  // splitmix64's finaliser
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Dropout whose masks come from the rows' keys (AutoencoderImpl::loss sets them for the batch), not
// from a generator shared by the batch: it takes the place of nn::Dropout in the layer stacks.
class CellDropoutImpl : public torch::nn::Module {
 public:
  CellDropoutImpl(double p, int64_t salt, std::shared_ptr<torch::Tensor> row_keys)
      : p_(p), salt_(salt), row_keys_(std::move(row_keys)) {}
  torch::Tensor forward(const torch::Tensor& x) {
    if (!is_training() || p_ == 0) return x;
    if (!row_keys_->defined()) return torch::dropout(x, p_, true);
    torch::Tensor columns = torch::arange(x.size(1), row_keys_->options()).unsqueeze(0);
    return x * keep_mask(row_keys_->unsqueeze(1), columns, salt_, p_, x.scalar_type());
  }

 private:
  double p_;
  int64_t salt_;
  std::shared_ptr<torch::Tensor> row_keys_;
};
TORCH_MODULE(CellDropout);

// Sets the row keys for one training forward pass and clears them after.
class RowKeysGuard {
 public:
  RowKeysGuard(torch::Tensor& slot, torch::Tensor keys) : slot_(slot) { slot_ = std::move(keys); }
  ~RowKeysGuard() { slot_ = torch::Tensor(); }
  RowKeysGuard(const RowKeysGuard&) = delete;
  RowKeysGuard& operator=(const RowKeysGuard&) = delete;

 private:
  torch::Tensor& slot_;
};

}  // namespace

nlohmann::json AutoencoderOptions::to_json() const {
  nlohmann::json j = {{"n_genes", n_genes}, {"hidden", hidden},   {"latent", latent},
                      {"activation", activation}, {"norm", norm}, {"dropout", dropout},
                      {"input_dropout", input_dropout}, {"loss", loss}};
  if (variational) {
    j["variational"] = true;
    j["kl_warmup_steps"] = kl_warmup_steps;
    j["batch_key"] = batch_key;
    j["batch_categories"] = batch_categories;
  }
  return j;
}

AutoencoderOptions AutoencoderOptions::from_json(const nlohmann::json& j) {
  AutoencoderOptions o;
  o.n_genes = j.at("n_genes").get<int64_t>();
  o.hidden = j.at("hidden").get<std::vector<int64_t>>();
  o.latent = j.at("latent").get<int64_t>();
  o.activation = j.at("activation");
  o.norm = j.at("norm");
  o.dropout = j.at("dropout").get<double>();
  o.input_dropout = j.value("input_dropout", 0.0);
  o.loss = j.at("loss");
  o.variational = j.value("variational", false);
  o.kl_warmup_steps = j.value("kl_warmup_steps", int64_t{0});
  o.batch_key = j.value("batch_key", "");
  o.batch_categories = j.value("batch_categories", std::vector<std::string>{});
  return o;
}

void append_block(torch::nn::Sequential& sequence, int64_t width, Norm norm, Activation activation, double dropout) {
  switch (norm) {
    case Norm::LayerNorm: sequence->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}))); break;
    case Norm::BatchNorm: sequence->push_back(torch::nn::BatchNorm1d(width)); break;
    case Norm::None: break;
  }
  switch (activation) {
    case Activation::Relu: sequence->push_back(torch::nn::ReLU()); break;
    case Activation::Gelu: sequence->push_back(torch::nn::GELU()); break;
    case Activation::Elu: sequence->push_back(torch::nn::ELU()); break;
    case Activation::Tanh: sequence->push_back(torch::nn::Tanh()); break;
  }
  if (dropout > 0) sequence->push_back(torch::nn::Dropout(dropout));
}

AutoencoderImpl::AutoencoderImpl(AutoencoderOptions options) : options_(std::move(options)) {
  if (options_.n_genes <= 0) fail("autoencoder needs at least one input gene");
  if (options_.latent <= 0) fail("latent size must be positive, got {}", options_.latent);
  if (options_.dropout < 0 || options_.dropout >= 1) fail("dropout must be in [0, 1), got {}", options_.dropout);
  if (options_.variational && options_.loss == ReconstructionLoss::Mse)
    fail("a variational autoencoder models counts: use the nb or poisson loss");
  if (!options_.batch_categories.empty() && !options_.variational) fail("a batch covariate needs the variational autoencoder");
  const int64_t encoder_width = options_.variational ? 2 * options_.latent : options_.latent;
  std::vector<int64_t> widths = options_.hidden;
  int64_t first_width = widths.empty() ? encoder_width : widths.front();
  // nn::Linear's default initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
  double bound = 1.0 / std::sqrt(static_cast<double>(options_.n_genes));
  input_weight = register_parameter("input_weight", torch::empty({options_.n_genes, first_width}).uniform_(-bound, bound));
  input_bias = register_parameter("input_bias", torch::empty({first_width}).uniform_(-bound, bound));
  // Blocks as append_block builds them, with per-cell dropout in place of nn::Dropout (the same
  // position in the stack, so parameter names and older files are unchanged).
  int64_t salt = 0;
  auto block = [&](torch::nn::Sequential& sequence, int64_t width) {
    append_block(sequence, width, options_.norm, options_.activation, 0.0);
    if (options_.dropout > 0) sequence->push_back(CellDropout(options_.dropout, ++salt, row_keys_));
  };
  encoder_rest = torch::nn::Sequential();
  if (!widths.empty()) {
    block(encoder_rest, widths.front());
    for (size_t i = 1; i < widths.size(); ++i) {
      encoder_rest->push_back(torch::nn::Linear(widths[i - 1], widths[i]));
      block(encoder_rest, widths[i]);
    }
    encoder_rest->push_back(torch::nn::Linear(widths.back(), encoder_width));
  }
  register_module("encoder", encoder_rest);
  decoder = torch::nn::Sequential();
  int64_t previous = options_.latent + static_cast<int64_t>(options_.batch_categories.size());
  for (auto it = widths.rbegin(); it != widths.rend(); ++it) {
    decoder->push_back(torch::nn::Linear(previous, *it));
    block(decoder, *it);
    previous = *it;
  }
  decoder->push_back(torch::nn::Linear(previous, options_.n_genes));
  register_module("decoder", decoder);
  if (options_.loss == ReconstructionLoss::NegativeBinomial)
    log_theta = register_parameter("log_theta", torch::zeros({options_.n_genes}));
  if (options_.variational) kl_step = register_buffer("kl_step", torch::zeros({1}, torch::kInt64));
}

torch::Tensor AutoencoderImpl::input_mask(const CellBatch& batch) {
  const double p = options_.input_dropout;
  if (!row_keys_->defined()) {  // no keys (outside loss()): torch's generator
    const torch::Tensor& x = batch.sparse.defined() ? batch.sparse.values : batch.input;
    return torch::dropout(torch::ones_like(x), p, true);
  }
  if (!batch.sparse.defined())
    return keep_mask(row_keys_->unsqueeze(1), torch::arange(batch.input.size(1), row_keys_->options()).unsqueeze(0), 0, p,
                     batch.input.scalar_type());
  // The same mask as the dense input's at each stored (cell, gene).
  const torch::Tensor& offsets = batch.sparse.offsets;
  torch::Tensor ends = torch::cat({offsets.slice(0, 1), torch::full({1}, batch.sparse.values.size(0), offsets.options())});
  torch::Tensor row_of_entry = torch::repeat_interleave(torch::arange(offsets.size(0), offsets.options()), ends - offsets);
  return keep_mask(row_keys_->index_select(0, row_of_entry), batch.sparse.indices, 0, p, batch.sparse.values.scalar_type());
}

torch::Tensor AutoencoderImpl::row_keys(const CellBatch& batch) const {
  const int64_t rows = batch.input.defined() ? batch.input.size(0) : batch.sparse.offsets.size(0);
  if (!batch.cells.empty() && static_cast<int64_t>(batch.cells.size()) != rows)
    fail("internal: {} cell ids for a batch of {} rows", batch.cells.size(), rows);
  // One draw from torch's generator per batch: the trainer seeds it per epoch, and every rank draws
  // once per step, so the keys depend on (seed, epoch, step, cell) only.
  const auto base = static_cast<uint64_t>(torch::randint(std::numeric_limits<int64_t>::max(), {1}, torch::kInt64).item<int64_t>());
  torch::Tensor keys = torch::empty({rows}, torch::kInt64);
  auto k = keys.accessor<int64_t, 1>();
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t id = batch.cells.empty() ? i : batch.cells[static_cast<size_t>(i)];
    k[i] = static_cast<int64_t>(mix64(base ^ mix64(static_cast<uint64_t>(id) + 1)) & 0xFFFFFFFFULL);
  }
  return keys.to(input_weight.device());
}

torch::Tensor AutoencoderImpl::first_layer(const CellBatch& batch) {
  if (batch.sparse.defined()) {
    // Sum of value x weight row over the expressed genes: nnz x width work instead of
    // cells x genes x width, forward and backward (embedding_bag with per-sample weights).
    torch::Tensor values = batch.sparse.values;
    if (is_training() && options_.input_dropout > 0) values = values * input_mask(batch);
    auto out = torch::embedding_bag(input_weight, batch.sparse.indices, batch.sparse.offsets, false, /*mode sum*/ 0, false,
                                    values, false);
    return std::get<0>(out) + input_bias;
  }
  torch::Tensor x = batch.input;
  if (is_training() && options_.input_dropout > 0) x = x * input_mask(batch);
  return torch::addmm(input_bias, x, input_weight);
}

CellBatch CellBatch::to(const torch::Device& device) const {
  auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
  return {move(input), {move(sparse.indices), move(sparse.offsets), move(sparse.values)}, move(counts), move(library),
          move(batch_codes), cells};
}

torch::Tensor AutoencoderImpl::encoder_output(const CellBatch& batch) {
  torch::Tensor x = first_layer(batch);
  return options_.hidden.empty() ? x : encoder_rest->forward(x);
}

torch::Tensor AutoencoderImpl::encode(const CellBatch& on_host) {
  const CellBatch batch = on_host.to(input_weight.device());
  torch::Tensor h = encoder_output(batch);
  return options_.variational ? h.slice(1, 0, options_.latent) : h;
}

torch::Tensor AutoencoderImpl::decode(const torch::Tensor& latent) { return decoder->forward(latent); }

torch::Tensor AutoencoderImpl::decoder_input(const torch::Tensor& latent, const CellBatch& batch) const {
  const auto n_batches = static_cast<int64_t>(options_.batch_categories.size());
  if (n_batches == 0) return latent;
  if (!batch.batch_codes.defined()) fail("internal: the batch covariate '{}' is missing from a batch", options_.batch_key);
  // Code -1 (a category training did not see) decodes with no batch: an all-zero one-hot.
  torch::Tensor one_hot = torch::one_hot(batch.batch_codes.to(latent.device()) + 1, n_batches + 1).slice(1, 1);
  return torch::cat({latent, one_hot.to(latent.scalar_type())}, 1);
}

torch::Tensor AutoencoderImpl::count_nll(const torch::Tensor& logits, const CellBatch& batch) {
  // scVI-style: rate = library x softmax(logits).
  torch::Tensor log_rate = torch::log_softmax(logits, 1) + torch::log(batch.library.clamp_min(1.0)).unsqueeze(1);
  const torch::Tensor& x = batch.counts;
  if (options_.loss == ReconstructionLoss::Poisson) return torch::exp(log_rate) - x * log_rate + torch::lgamma(x + 1);
  torch::Tensor theta = torch::exp(log_theta).unsqueeze(0);
  torch::Tensor log_theta_mu = torch::logaddexp(log_theta.unsqueeze(0), log_rate);  // log(theta + mu)
  return -(torch::lgamma(x + theta) - torch::lgamma(theta) - torch::lgamma(x + 1) +
           theta * (log_theta.unsqueeze(0) - log_theta_mu) + x * (log_rate - log_theta_mu));
}

torch::Tensor AutoencoderImpl::variational_loss(const CellBatch& batch) {
  torch::Tensor h = encoder_output(batch);
  torch::Tensor mean = h.slice(1, 0, options_.latent);
  torch::Tensor log_var = h.slice(1, options_.latent).clamp(-10, 10);
  // Training decodes a sample of the posterior; validation its mean (a deterministic score).
  torch::Tensor z = is_training() ? mean + torch::exp(0.5 * log_var) * torch::randn_like(mean) : mean;
  torch::Tensor nll = count_nll(decode(decoder_input(z, batch)), batch).sum(1);
  torch::Tensor kl = 0.5 * (torch::exp(log_var) + mean * mean - 1 - log_var).sum(1);
  double weight = 1.0;
  if (is_training()) {
    const int64_t step = kl_step.item<int64_t>();
    if (options_.kl_warmup_steps > 0) weight = std::min(1.0, static_cast<double>(step) / options_.kl_warmup_steps);
    kl_step.add_(1);
  }
  return (nll + weight * kl).mean();
}

torch::Tensor AutoencoderImpl::loss(const CellBatch& on_host) {
  const CellBatch batch = on_host.to(input_weight.device());
  const bool masks = is_training() && (options_.dropout > 0 || options_.input_dropout > 0);
  RowKeysGuard keys(*row_keys_, masks ? row_keys(batch) : torch::Tensor());
  if (options_.variational) return variational_loss(batch);
  torch::Tensor output = decode(encode(batch));
  if (options_.loss == ReconstructionLoss::Mse) return torch::mse_loss(output, batch.input);
  return count_nll(output, batch).mean();
}

namespace {

// Sparse input pays for stored values only; below this density it beats the dense first layer
// (measured in bench/: docs/models.md).
constexpr double kSparseInputDensity = 0.25;

}  // namespace

CellBatch make_batch(const preprocess::Preprocessor& preprocessor, const preprocess::Preprocessor::ModelInput& data,
                     std::span<const int64_t> rows, const BatchLayout& layout) {
  CellBatch b;
  // Standardisation makes every value non-zero, so a scaled input is always dense.
  bool use_sparse = layout.sparse && !preprocessor.scales();
  if (!use_sparse || layout.dense_target) {
    b.input = dense_rows(data.log_normalised, rows);
    preprocessor.scale_rows(b.input.data_ptr<float>(), b.input.size(0));
  }
  if (use_sparse) {
    SparseRows s = sparse_rows(data.log_normalised, rows);
    b.sparse = {s.indices, s.offsets, s.values};
  }
  if (layout.counts) {
    b.counts = dense_rows(data.counts, rows);
    b.library = gather(data.library_size, rows);
  }
  return b;
}

bool choose_sparse(InputLayer mode, double density, bool scaled) {
  if (mode == InputLayer::Dense || scaled) return false;
  if (mode == InputLayer::Sparse) return true;
  return density < kSparseInputDensity;
}

BatchLayout encoding_layout(const nlohmann::json& model_meta, const preprocess::Preprocessor& preprocessor) {
  const auto input_layer = model_meta.value("input_layer", InputLayer::Dense);  // the choice made at pretraining
  return BatchLayout{input_layer == InputLayer::Sparse && !preprocessor.scales(), false, false};
}

// The autoencoder as a CellEncoder (models/encoder.hpp): raw counts through the preprocessing fitted
// at pretraining, the latent vector as the embedding; it also imputes by reconstruction.
namespace {

class AutoencoderEncoder final : public CellEncoder {
 public:
  AutoencoderEncoder(const std::string& path, nlohmann::json meta, const EncodeSettings& settings);
  const char* kind() const override { return "autoencoder"; }
  int64_t width() const override { return options_.latent; }
  std::vector<std::string> genes() const override { return preprocessor_.output_genes(); }
  std::string input_summary() const override { return preprocessor_.summary(); }
  DenseMatrix encode(const CellSource& cells) const override;
  std::vector<std::vector<double>> impute_masked(const AnnData& data, const std::vector<std::vector<std::string>>& masked,
                                                 const std::vector<double>& totals, double target_sum) const override;

 private:
  // Encodes every row of `input` in batches; row i's vector goes to embedding row target[i].
  void encode_rows(const preprocess::Preprocessor::ModelInput& input, std::span<const int64_t> target,
                   DenseMatrix& embedding) const;
  // A reconstructed value of gene column `gene`, from the model's normalisation (its library, its
  // target) to the caller's (total, target_sum).
  double imputed_value(double reconstructed, int64_t gene, double library, double total, double target_sum) const;

  AutoencoderOptions options_;
  preprocess::Preprocessor preprocessor_;
  BatchLayout layout_;
  EncodeSettings settings_;
  mutable Autoencoder model_{nullptr};
  static constexpr int64_t kBatchCells = 1024;
};


AutoencoderEncoder::AutoencoderEncoder(const std::string& path, nlohmann::json meta, const EncodeSettings& settings)
    : CellEncoder(path, std::move(meta)), settings_(settings) {
  options_ = AutoencoderOptions::from_json(this->meta().at("model"));
  preprocessor_ = preprocess::Preprocessor::from_json(this->meta().at("preprocessing"));
  layout_ = encoding_layout(this->meta(), preprocessor_);
  model_ = Autoencoder(options_);
  load_model_weights(path, *model_);
  model_->eval();
  model_->to(torch::Device(runtime::check_device(settings_.device)));
}

void AutoencoderEncoder::encode_rows(const preprocess::Preprocessor::ModelInput& input, std::span<const int64_t> target,
                                     DenseMatrix& embedding) const {
  torch::NoGradGuard no_grad;
  const int64_t n = input.log_normalised.rows, latent = width();
  for (int64_t start = 0; start < n; start += kBatchCells) {
    std::vector<int64_t> rows = all_rows(std::min(n, start + kBatchCells) - start);
    for (auto& r : rows) r += start;
    torch::Tensor z = model_->encode(make_batch(preprocessor_, input, rows, layout_)).cpu().contiguous();
    for (size_t i = 0; i < rows.size(); ++i)
      std::copy(z.data_ptr<float>() + i * latent, z.data_ptr<float>() + (i + 1) * latent,
                embedding.values.begin() + target[rows[i]] * latent);
  }
}

DenseMatrix AutoencoderEncoder::encode(const CellSource& cells) const {
  AlignOptions align;
  align.case_insensitive = settings_.case_insensitive;
  const GeneAlignment alignment = preprocessor_.qc_genes().align(cells.genes(), align, cells.name());
  const int64_t latent = width();
  DenseMatrix embedding{cells.n_cells(), latent, std::vector<float>(static_cast<size_t>(cells.n_cells() * latent))};
  cells.for_each_block([&](const CsrMatrix& counts, std::span<const int64_t> positions) {
    preprocess::require_counts(counts, cells.name());
    encode_rows(preprocessor_.model_input(counts, alignment), positions, embedding);
  });
  return embedding;
}

double AutoencoderEncoder::imputed_value(double value, int64_t gene, double library, double total, double target_sum) const {
  if (preprocessor_.scales()) value = value * preprocessor_.scaler().sd[gene] + preprocessor_.scaler().mean[gene];
  double share = std::expm1(std::max(value, 0.0)) / preprocessor_.options().target_sum * library;
  return total > 0 ? std::log1p(share / total * target_sum) : 0.0;
}

std::vector<std::vector<double>> AutoencoderEncoder::impute_masked(const AnnData& data,
                                                                   const std::vector<std::vector<std::string>>& masked,
                                                                   const std::vector<double>& totals, double target_sum) const {
  if (options_.loss != ReconstructionLoss::Mse || options_.variational)
    fail("{}: imputation compares MSE autoencoders (this one has the {} loss{})", path(), options_.loss,
         options_.variational ? ", variational" : "");
  auto input = preprocessor_.model_input(data);
  std::unordered_map<std::string, int64_t> column;
  for (size_t g = 0; g < preprocessor_.output_genes().size(); ++g) column[preprocessor_.output_genes()[g]] = static_cast<int64_t>(g);
  std::vector<std::vector<double>> out(masked.size());
  torch::NoGradGuard no_grad;
  const int64_t n = data.n_cells();
  for (int64_t start = 0; start < n; start += 256) {
    std::vector<int64_t> rows = all_rows(std::min(n, start + 256) - start);
    for (auto& r : rows) r += start;
    CellBatch batch;
    batch.input = dense_rows(input.log_normalised, rows);
    auto x = batch.input.accessor<float, 2>();
    for (size_t i = 0; i < rows.size(); ++i)
      for (const auto& gene : masked[rows[i]])
        if (auto it = column.find(gene); it != column.end()) x[static_cast<int64_t>(i)][it->second] = 0.0f;
    preprocessor_.scale_rows(batch.input.data_ptr<float>(), batch.input.size(0));
    torch::Tensor reconstruction = model_->decode(model_->encode(batch)).cpu().contiguous();
    auto y = reconstruction.accessor<float, 2>();
    for (size_t i = 0; i < rows.size(); ++i) {
      const int64_t r = rows[i];
      for (const auto& gene : masked[r]) {
        auto it = column.find(gene);
        out[r].push_back(it == column.end() ? NAN
                                            : imputed_value(y[static_cast<int64_t>(i)][it->second], it->second,
                                                            input.library_size[r], totals[r], target_sum));
      }
    }
  }
  return out;
}

}  // namespace

std::unique_ptr<CellEncoder> load_autoencoder_encoder(const std::string& path, const ModelHeader& header,
                                                      const EncodeSettings& settings) {
  return std::make_unique<AutoencoderEncoder>(path, header.meta, settings);
}

}  // namespace marrow::models
