#include "marrow/models/exceiver.hpp"

#include <cmath>
#include <fmt/format.h>

#include "marrow/core/error.hpp"
#include "marrow/models/encoder.hpp"
#include "marrow/models/model_file.hpp"
#include "marrow/models/token_batching.hpp"
#include "marrow/runtime/torch_runtime.hpp"

namespace marrow::models {

nlohmann::json ExceiverOptions::to_json() const {
  return {{"n_genes", n_genes}, {"dim", dim},         {"latents", latents},       {"heads", heads},
          {"layers", layers},   {"ff_mult", ff_mult}, {"dropout", dropout},       {"value_mode", value_mode},
          {"loss", loss},       {"cell_decoding", cell_decoding},
          {"contrastive", contrastive}};
}

ExceiverOptions ExceiverOptions::from_json(const nlohmann::json& j) {
  ExceiverOptions o;
  o.n_genes = j.at("n_genes").get<int64_t>();
  o.dim = j.at("dim").get<int64_t>();
  o.latents = j.at("latents").get<int64_t>();
  o.heads = j.at("heads").get<int64_t>();
  o.layers = j.at("layers").get<int64_t>();
  o.ff_mult = j.at("ff_mult").get<int64_t>();
  o.dropout = j.at("dropout").get<double>();
  o.value_mode = j.at("value_mode");
  o.loss = j.at("loss");
  o.cell_decoding = j.value("cell_decoding", 0.0);  // absent in files written before the options
  o.contrastive = j.value("contrastive", 0.0);
  return o;
}

CrossAttentionBlockImpl::CrossAttentionBlockImpl(int64_t dim, int64_t heads, int64_t ff_mult, double dropout, bool normalise_keys)
    : normalise_keys_(normalise_keys) {
  query_norm = register_module("query_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  key_norm = register_module("key_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  ff_norm = register_module("ff_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  attention = register_module("attention", torch::nn::MultiheadAttention(torch::nn::MultiheadAttentionOptions(dim, heads).dropout(dropout)));
  feed_forward = register_module("feed_forward", torch::nn::Sequential(torch::nn::Linear(dim, ff_mult * dim), torch::nn::GELU(),
                                                                       torch::nn::Dropout(dropout), torch::nn::Linear(ff_mult * dim, dim)));
}

torch::Tensor CrossAttentionBlockImpl::forward(const torch::Tensor& queries, const torch::Tensor& keys, const torch::Tensor& key_padding) {
  // LibTorch's MultiheadAttention takes [sequence, batch, dim].
  torch::Tensor q = query_norm(queries).transpose(0, 1);
  torch::Tensor k = (normalise_keys_ ? key_norm(keys) : keys).transpose(0, 1);
  torch::Tensor attended = std::get<0>(attention(q, k, k, key_padding, /*need_weights=*/false)).transpose(0, 1);
  torch::Tensor x = queries + attended;
  return x + feed_forward->forward(ff_norm(x));
}

ExceiverImpl::ExceiverImpl(ExceiverOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  if (o.n_genes <= 0) fail("exceiver: the vocabulary is empty");
  if (o.dim <= 0 || o.latents <= 0 || o.heads <= 0 || o.layers < 0 || o.ff_mult <= 0)
    fail("exceiver: sizes must be positive (dim {}, latents {}, heads {}, layers {}, ff_mult {})", o.dim, o.latents, o.heads, o.layers,
         o.ff_mult);
  if (o.dim % o.heads != 0) fail("exceiver: dim {} must be a multiple of heads {}", o.dim, o.heads);
  if (o.dropout < 0 || o.dropout >= 1) fail("exceiver: dropout must be in [0, 1), got {}", o.dropout);
  if (!(o.cell_decoding >= 0) || !std::isfinite(o.cell_decoding)) fail("exceiver: cell decoding weight must be >= 0, got {}", o.cell_decoding);
  if (!(o.contrastive >= 0) || !std::isfinite(o.contrastive)) fail("exceiver: contrastive weight must be >= 0, got {}", o.contrastive);
  gene_embedding = register_module("gene_embedding", torch::nn::Embedding(o.n_genes, o.dim));
  torch::nn::init::normal_(gene_embedding->weight, 0.0, 1.0 / std::sqrt(static_cast<double>(o.dim)));
  mask_embedding = register_parameter("mask_embedding", torch::randn({o.dim}) / std::sqrt(static_cast<double>(o.dim)));
  latent_array = register_parameter("latent_array", torch::randn({o.latents, o.dim}) * 0.02);
  class_query = register_parameter("class_query", torch::randn({1, o.dim}) * 0.02);
  if (o.value_mode == ValueMode::Project) value_projection = register_module("value_projection", torch::nn::Linear(1, o.dim));
  encoder = register_module("encoder", CrossAttentionBlock(o.dim, o.heads, o.ff_mult, o.dropout, o.value_mode != ValueMode::NormScale));
  process = register_module("process", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.layers; ++i) process->push_back(CrossAttentionBlock(o.dim, o.heads, o.ff_mult, o.dropout));
  decoder = register_module("decoder", CrossAttentionBlock(o.dim, o.heads, o.ff_mult, o.dropout));
  class_decoder = register_module("class_decoder", CrossAttentionBlock(o.dim, o.heads, o.ff_mult, o.dropout));
  output_norm = register_module("output_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim})));
  output = register_module("output", torch::nn::Linear(o.dim, 1));
  gene_mean = register_buffer("gene_mean", torch::zeros({o.n_genes}));
  gene_mean_expressed = register_buffer("gene_mean_expressed", torch::zeros({o.n_genes}));
  if (o.loss == ReconstructionLoss::NegativeBinomial) log_theta = register_parameter("log_theta", torch::zeros({o.n_genes}));
  // Registered only when used, so that files written without it load unchanged.
  if (o.cell_decoding > 0) cell_gene_projection = register_module("cell_gene_projection", torch::nn::Linear(o.dim, o.dim + 1));
  if (o.contrastive > 0)
    contrastive_projection = register_module(
        "contrastive_projection", torch::nn::Sequential(torch::nn::Linear(o.dim, o.dim), torch::nn::GELU(), torch::nn::Linear(o.dim, o.dim)));
}

void ExceiverImpl::grow_vocabulary(const torch::Tensor& rows, const torch::Tensor& means, const torch::Tensor& means_expressed) {
  const int64_t added = rows.size(0);
  if (rows.dim() != 2 || rows.size(1) != options_.dim || means.numel() != added || means_expressed.numel() != added)
    fail("exceiver: new gene rows must be [n, {}] with n means, got {} x {} rows", options_.dim, rows.size(0), rows.dim() == 2 ? rows.size(1) : 0);
  torch::NoGradGuard no_grad;
  // set_data keeps the registered parameter and buffer objects (and their names) and swaps their storage.
  gene_embedding->weight.set_data(torch::cat({gene_embedding->weight.detach(), rows.to(gene_embedding->weight.dtype())}));
  gene_mean.set_data(torch::cat({gene_mean, means.to(gene_mean.dtype())}));
  gene_mean_expressed.set_data(torch::cat({gene_mean_expressed, means_expressed.to(gene_mean.dtype())}));
  if (log_theta.defined()) log_theta.set_data(torch::cat({log_theta.detach(), torch::zeros({added}, log_theta.options())}));
  options_.n_genes += added;
  gene_embedding->options.num_embeddings(options_.n_genes);
}

TokenBatch TokenBatch::to(const torch::Device& device) const {
  auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
  return {move(genes), move(values), move(masked), move(padding), move(query_genes), move(query_padding), move(targets), move(library)};
}

torch::Tensor ExceiverImpl::tokens(const TokenBatch& b) {
  torch::Tensor embedded = gene_embedding(b.genes);  // [B, T, D]
  torch::Tensor values = b.values.unsqueeze(-1);
  torch::Tensor t;
  switch (options_.value_mode) {
    case ValueMode::Scale: t = embedded * values; break;
    case ValueMode::Project: t = embedded + value_projection(values); break;
    case ValueMode::NormScale: t = torch::layer_norm(embedded, {options_.dim}) * values; break;
  }
  // A masked token shows neither its gene nor its value.
  return torch::where(b.masked.unsqueeze(-1), mask_embedding.expand_as(t), t);
}

torch::Tensor ExceiverImpl::encode(const TokenBatch& on_host) {
  const TokenBatch b = on_host.to(latent_array.device());
  const int64_t batch = b.genes.size(0);
  torch::Tensor latents = latent_array.unsqueeze(0).expand({batch, options_.latents, options_.dim});
  latents = encoder(latents, tokens(b), b.padding);
  for (const auto& block : *process) latents = block->as<CrossAttentionBlock>()->forward(latents, latents, torch::Tensor());
  return latents;
}

torch::Tensor ExceiverImpl::cell_embedding(const torch::Tensor& latents) { return latents.mean(1); }

torch::Tensor ExceiverImpl::decode(const torch::Tensor& latents, const torch::Tensor& query_genes) {
  torch::Tensor queries = gene_embedding(query_genes.to(latents.device()));
  torch::Tensor decoded = decoder(queries, latents, torch::Tensor());
  return output(output_norm(decoded)).squeeze(-1);
}

torch::Tensor ExceiverImpl::decode_from_cell(const torch::Tensor& cell, const torch::Tensor& query_genes) {
  if (!cell_gene_projection) fail("exceiver: this model was trained without cell decoding");
  const int64_t dim = options_.dim;
  torch::Tensor projected = cell_gene_projection(gene_embedding(query_genes.to(cell.device())));  // [B, Q, dim + 1]
  torch::Tensor weights = projected.narrow(-1, 0, dim), bias = projected.select(-1, dim);
  return (weights * cell.unsqueeze(1)).sum(-1) + bias;
}

torch::Tensor ExceiverImpl::class_representation(const torch::Tensor& latents) {
  torch::Tensor query = class_query.unsqueeze(0).expand({latents.size(0), 1, options_.dim});
  return output_norm(class_decoder(query, latents, torch::Tensor())).squeeze(1);
}

torch::Tensor ExceiverImpl::query_loss(const torch::Tensor& predictions, const TokenBatch& on_host) {
  const TokenBatch b = on_host.to(predictions.device());
  torch::Tensor real = (~b.query_padding).to(predictions.dtype());
  if (options_.loss == ReconstructionLoss::Mse) return (predictions - b.targets).pow(2) * real;
  torch::Tensor log_rate = predictions + torch::log(b.library.clamp_min(1.0)).unsqueeze(1);
  const torch::Tensor& x = b.targets;
  torch::Tensor nll;
  if (options_.loss == ReconstructionLoss::Poisson) {
    nll = torch::exp(log_rate) - x * log_rate + torch::lgamma(x + 1);
  } else {
    torch::Tensor lt = log_theta.index_select(0, b.query_genes.reshape(-1)).view_as(x);
    torch::Tensor theta = torch::exp(lt), log_theta_mu = torch::logaddexp(lt, log_rate);
    nll = -(torch::lgamma(x + theta) - torch::lgamma(theta) - torch::lgamma(x + 1) + theta * (lt - log_theta_mu) +
            x * (log_rate - log_theta_mu));
  }
  return nll * real;
}

namespace {

// The same cells with about half of their visible tokens removed (padding), never all of a cell's:
// random in training, every other token in evaluation (so the validation loss is reproducible).
TokenBatch shallower_view(const TokenBatch& b, bool training) {
  torch::Tensor visible = ~(b.padding | b.masked);
  torch::Tensor drop = training ? torch::rand(b.padding.sizes(), torch::TensorOptions().device(b.padding.device())) < 0.5
                                : (torch::arange(b.padding.size(1), torch::TensorOptions().dtype(torch::kInt64).device(b.padding.device())) % 2 == 1)
                                      .expand_as(b.padding);
  drop = drop & visible;
  torch::Tensor keeps_some = (visible & ~drop).any(1, /*keepdim=*/true);
  TokenBatch view = b;
  view.padding = b.padding | (drop & keeps_some);
  return view;
}

constexpr double contrastive_temperature = 0.1;

}  // namespace

torch::Tensor ExceiverImpl::contrastive_loss(const TokenBatch& b, const torch::Tensor& latents) {
  const int64_t n = latents.size(0);
  if (n < 2) return torch::zeros({}, latents.options());
  auto compared = [this](const torch::Tensor& encoded) {  // unit vectors through the projection head
    return torch::nn::functional::normalize(contrastive_projection->forward(cell_embedding(encoded)),
                                            torch::nn::functional::NormalizeFuncOptions().dim(1));
  };
  torch::Tensor view = encode(shallower_view(b.to(latents.device()), is_training()));
  torch::Tensor logits = torch::matmul(compared(latents), compared(view).t()) / contrastive_temperature;
  torch::Tensor same = torch::arange(n, torch::TensorOptions().dtype(torch::kInt64).device(latents.device()));
  return 0.5 * (torch::nn::functional::cross_entropy(logits, same) + torch::nn::functional::cross_entropy(logits.t(), same));
}

torch::Tensor ExceiverImpl::loss(const TokenBatch& b) {
  torch::Tensor latents = encode(b);
  torch::Tensor n = (~b.query_padding).sum().clamp_min(1);
  torch::Tensor total = query_loss(decode(latents, b.query_genes), b).sum() / n;
  if (cell_gene_projection) {
    torch::Tensor from_cell = decode_from_cell(cell_embedding(latents), b.query_genes);
    total = total + options_.cell_decoding * query_loss(from_cell, b).sum() / n;
  }
  if (contrastive_projection) total = total + options_.contrastive * contrastive_loss(b, latents);
  return total;
}

LoadedExceiver load_exceiver(const std::string& path) { return load_exceiver(path, read_model_header(path, "exceiver")); }

LoadedExceiver load_exceiver(const std::string& path, const ModelHeader& header) {
  LoadedExceiver e;
  static_cast<TokenInput&>(e) = TokenInput::from_meta(header.meta, path);
  ExceiverOptions options;
  try {
    options = ExceiverOptions::from_json(header.meta.at("model"));
  } catch (const nlohmann::json::exception& ex) {
    fail("{}: model metadata is incomplete: {}", path, ex.what());
  }
  e.model = Exceiver(options);
  e.meta = header.meta;
  load_model_weights(path, *e.model);
  e.model->eval();
  return e;
}

// The gene model as a CellEncoder (models/encoder.hpp): cells tokenised over its vocabulary, the
// latent array pooled into one vector per cell.
namespace {

class ExceiverEncoder final : public CellEncoder {
 public:
  ExceiverEncoder(const std::string& path, LoadedExceiver loaded, const EncodeSettings& settings);
  const char* kind() const override { return "exceiver"; }
  int64_t width() const override { return loaded_.model->options().dim; }
  std::vector<std::string> genes() const override { return loaded_.vocabulary.genes(); }
  std::string input_summary() const override;
  DenseMatrix encode(const CellSource& cells) const override;

 private:
  mutable LoadedExceiver loaded_;  // torch modules run through non-const calls
  EncodeSettings settings_;
  static constexpr int64_t kBatchCells = 256;
};


ExceiverEncoder::ExceiverEncoder(const std::string& path, LoadedExceiver loaded, const EncodeSettings& settings)
    : CellEncoder(path, loaded.meta), loaded_(std::move(loaded)), settings_(settings) {
  loaded_.model->to(torch::Device(runtime::check_device(settings_.device)));
}

std::string ExceiverEncoder::input_summary() const {
  return fmt::format("{} genes as tokens (at most {} per cell), normalised to {:g}", loaded_.vocabulary.size(),
                     loaded_.masking.max_tokens, loaded_.target_sum);
}

DenseMatrix ExceiverEncoder::encode(const CellSource& source) const {
  AlignOptions align;
  align.case_insensitive = settings_.case_insensitive;
  const GeneAlignment alignment = loaded_.vocabulary.align(source.genes(), align, source.name());
  const int64_t dim = width(), n_cells = source.n_cells();
  DenseMatrix out{n_cells, dim, std::vector<float>(static_cast<size_t>(n_cells * dim))};
  source.for_each_block([&](const CsrMatrix& counts, std::span<const int64_t> rows) {
    preprocess::TokenCells cells =
        preprocess::tokenize(counts, alignment, loaded_.vocabulary.size(), loaded_.target_sum, source.name(),
                             [&](int64_t i) { return source.cell_name(rows[i]); });
    torch::Tensor z = over_whole_cells(cells, loaded_.whole_cells(), kBatchCells, [&](const TokenBatch& b) {
      return ExceiverImpl::cell_embedding(loaded_.model->encode(b));
    });
    z = z.contiguous();
    for (size_t i = 0; i < rows.size(); ++i)
      std::copy(z.data_ptr<float>() + i * dim, z.data_ptr<float>() + (i + 1) * dim, out.values.begin() + rows[i] * dim);
  });
  return out;
}

}  // namespace

std::unique_ptr<CellEncoder> load_exceiver_encoder(const std::string& path, const ModelHeader& header,
                                                   const EncodeSettings& settings) {
  return std::make_unique<ExceiverEncoder>(path, load_exceiver(path, header), settings);
}

}  // namespace marrow::models
