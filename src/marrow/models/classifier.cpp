#include "marrow/models/classifier.hpp"

#include "marrow/core/error.hpp"
#include "marrow/models/autoencoder.hpp"

namespace marrow::models {

nlohmann::json ClassifierOptions::to_json() const {
  return {{"head", head},     {"input_dim", input_dim}, {"n_classes", n_classes}, {"hidden", hidden},
          {"activation", activation}, {"norm", norm}, {"dropout", dropout},  {"tokens", tokens},
          {"width", width},   {"heads", heads},         {"layers", layers},       {"neighbours", neighbours}};
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
  o.tokens = j.value("tokens", o.tokens);
  o.width = j.value("width", o.width);
  o.heads = j.value("heads", o.heads);
  o.layers = j.value("layers", o.layers);
  o.neighbours = j.value("neighbours", o.neighbours);
  return o;
}

ClassifierImpl::ClassifierImpl(ClassifierOptions options) : options_(std::move(options)) {
  if (options_.input_dim <= 0) fail("classifier needs a non-empty input");
  if (options_.n_classes < 2) fail("classifier needs at least 2 classes, got {}", options_.n_classes);
  mean_ = register_buffer("input_mean", torch::zeros({options_.input_dim}));
  sd_ = register_buffer("input_sd", torch::ones({options_.input_dim}));
  body = torch::nn::Sequential();
  if (options_.head == Head::Linear) {
    body->push_back(torch::nn::Linear(options_.input_dim, options_.n_classes));
  } else if (options_.head == Head::Mlp) {
    int64_t previous = options_.input_dim;
    for (int64_t width : options_.hidden) {
      body->push_back(torch::nn::Linear(previous, width));
      append_block(body, width, options_.norm, options_.activation, options_.dropout);
      previous = width;
    }
    body->push_back(torch::nn::Linear(previous, options_.n_classes));
  } else if (options_.head == Head::Transformer) {
    if (options_.tokens < 1 || options_.tokens > options_.input_dim)
      fail("transformer head: tokens must be in [1, {}], got {}", options_.input_dim, options_.tokens);
    if (options_.width % options_.heads != 0)
      fail("transformer head: width {} is not a multiple of heads {}", options_.width, options_.heads);
    int64_t token_dim = (options_.input_dim + options_.tokens - 1) / options_.tokens;
    token_projection = register_module("token_projection", torch::nn::Linear(token_dim, options_.width));
    class_token = register_parameter("class_token", torch::randn({1, 1, options_.width}) * 0.02);
    positions = register_parameter("positions", torch::randn({options_.tokens, 1, options_.width}) * 0.02);
    auto layer = torch::nn::TransformerEncoderLayerOptions(options_.width, options_.heads)
                     .dim_feedforward(2 * options_.width)
                     .dropout(options_.dropout);
    encoder = register_module("encoder", torch::nn::TransformerEncoder(torch::nn::TransformerEncoderOptions(layer, options_.layers)));
    final_norm = register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({options_.width})));
    readout = register_module("readout", torch::nn::Linear(options_.width, options_.n_classes));
  } else {  // Head::Gcn
    if (options_.neighbours < 1) fail("gcn head: neighbours must be positive, got {}", options_.neighbours);
    int64_t width = options_.hidden.empty() ? 256 : options_.hidden.front();
    gcn1 = register_module("gcn1", torch::nn::Linear(options_.input_dim, width));
    gcn2 = register_module("gcn2", torch::nn::Linear(width, options_.n_classes));
    gcn_dropout = register_module("gcn_dropout", torch::nn::Dropout(options_.dropout));
    // The training graph travels with the model: a new cell is joined to these cells.
    train_x_ = register_buffer("train_x", torch::empty({0, options_.input_dim}));
    train_neighbours_ = register_buffer("train_neighbours", torch::empty({0}, torch::kLong));
    train_weights_ = register_buffer("train_weights", torch::empty({0}));
    train_degree_ = register_buffer("train_degree", torch::empty({0}));
    train_offsets_ = register_buffer("train_offsets", torch::empty({0}, torch::kLong));
  }
  register_module("body", body);
}

namespace {

// Indices [n, k] of each query's k most cosine-similar rows of `train` (rows L2-normalised by the
// caller); `self_offset` >= 0 marks queries that are train rows self_offset.. (excluded).
torch::Tensor nearest(const torch::Tensor& queries, const torch::Tensor& train, int64_t k, int64_t self_offset) {
  k = std::min<int64_t>(k, train.size(0) - (self_offset >= 0 ? 1 : 0));
  if (k < 1) fail("gcn head: needs at least 2 training cells");
  std::vector<torch::Tensor> parts;
  for (int64_t start = 0; start < queries.size(0); start += 2048) {
    int64_t n = std::min<int64_t>(2048, queries.size(0) - start);
    torch::Tensor similarity = torch::mm(queries.narrow(0, start, n), train.t());
    if (self_offset >= 0) {
      torch::Tensor rows = torch::arange(n, torch::kLong), cols = rows + self_offset + start;
      similarity.index_put_({rows, cols}, -std::numeric_limits<float>::infinity());
    }
    parts.push_back(std::get<1>(similarity.topk(k, 1)));
  }
  return torch::cat(parts, 0);
}

}  // namespace

void ClassifierImpl::set_training_cells(const torch::Tensor& features) {
  if (options_.head != Head::Gcn) return;
  torch::NoGradGuard no_grad;
  torch::Tensor x = standardise(features);
  torch::Tensor unit = torch::nn::functional::normalize(x, torch::nn::functional::NormalizeFuncOptions().dim(1));
  const int64_t n = x.size(0);
  torch::Tensor knn = nearest(unit, unit, options_.neighbours, 0);
  // Symmetric adjacency (i ~ j if either is among the other's neighbours) plus self loops.
  std::vector<std::vector<int64_t>> adjacency(n);
  auto idx = knn.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < knn.size(1); ++j) {
      adjacency[i].push_back(idx[i][j]);
      adjacency[idx[i][j]].push_back(i);
    }
  }
  std::vector<int64_t> flat, offsets;
  std::vector<float> degree(n);
  for (int64_t i = 0; i < n; ++i) {
    auto& a = adjacency[i];
    std::sort(a.begin(), a.end());
    a.erase(std::unique(a.begin(), a.end()), a.end());
    a.push_back(i);  // self loop
    degree[i] = static_cast<float>(a.size());
  }
  std::vector<float> weights;
  for (int64_t i = 0; i < n; ++i) {
    offsets.push_back(static_cast<int64_t>(flat.size()));
    for (int64_t j : adjacency[i]) {
      flat.push_back(j);
      weights.push_back(1.0f / std::sqrt(degree[i] * degree[j]));
    }
  }
  train_x_.set_(x.contiguous());
  train_neighbours_.set_(torch::tensor(flat, torch::kLong));
  train_offsets_.set_(torch::tensor(offsets, torch::kLong));
  train_weights_.set_(torch::tensor(weights));
  train_degree_.set_(torch::tensor(degree));
}

torch::Tensor ClassifierImpl::transformer_logits(const torch::Tensor& x) {
  int64_t token_dim = token_projection->weight.size(1);
  int64_t padded = token_dim * options_.tokens;
  torch::Tensor t = padded > x.size(1) ? torch::constant_pad_nd(x, {0, padded - x.size(1)}) : x;
  t = token_projection->forward(t.view({x.size(0), options_.tokens, token_dim})).transpose(0, 1);  // [T, B, W]
  t = t + positions;
  t = torch::cat({class_token.expand({1, x.size(0), options_.width}), t}, 0);
  torch::Tensor out = encoder->forward(t);
  return readout->forward(final_norm->forward(out[0]));
}

torch::Tensor ClassifierImpl::gcn_logits(const torch::Tensor& query_x, const torch::Tensor& neighbours,
                                         bool queries_are_training) {
  if (train_x_.size(0) == 0) fail("gcn head: the model has no training cells (internal: set_training_cells not called)");
  auto aggregate = [](const torch::Tensor& table, const torch::Tensor& index, const torch::Tensor& offsets,
                      const torch::Tensor& w) {
    return std::get<0>(torch::embedding_bag(table, index, offsets, false, 0, false, w, false));
  };
  // Layer 1 on the training graph: every training cell's hidden state.
  torch::Tensor h_train = torch::relu(gcn1->forward(aggregate(train_x_, train_neighbours_, train_offsets_, train_weights_)));
  h_train = gcn_dropout->forward(h_train);
  if (queries_are_training) return gcn2->forward(aggregate(h_train, train_neighbours_, train_offsets_, train_weights_));
  // New cells: k training neighbours plus the self loop; degree k + 1; training degrees unchanged.
  const int64_t n = query_x.size(0), k = neighbours.size(1);
  const float self_weight = 1.0f / static_cast<float>(k + 1);
  torch::Tensor flat = neighbours.reshape({-1});
  torch::Tensor edge_w = (1.0 / torch::sqrt(train_degree_.index_select(0, flat) * static_cast<float>(k + 1))).contiguous();
  torch::Tensor offsets = torch::arange(0, n * k, k, torch::kLong);
  torch::Tensor h_new = torch::relu(gcn1->forward(aggregate(train_x_, flat, offsets, edge_w) + self_weight * query_x));
  h_new = gcn_dropout->forward(h_new);
  return gcn2->forward(aggregate(h_train, flat, offsets, edge_w) + self_weight * h_new);
}

void ClassifierImpl::fit_standardisation(const torch::Tensor& features) {
  torch::NoGradGuard no_grad;
  mean_.copy_(features.mean(0));
  sd_.copy_(features.std(0).clamp_min(1e-6));
}

torch::Tensor ClassifierImpl::forward(const torch::Tensor& features) {
  torch::Tensor x = standardise(features);
  if (options_.head == Head::Transformer) return transformer_logits(x);
  if (options_.head == Head::Gcn) {
    torch::Tensor unit_train = torch::nn::functional::normalize(train_x_, torch::nn::functional::NormalizeFuncOptions().dim(1));
    torch::Tensor unit = torch::nn::functional::normalize(x, torch::nn::functional::NormalizeFuncOptions().dim(1));
    torch::Tensor knn;
    {
      torch::NoGradGuard no_grad;
      knn = nearest(unit, unit_train, options_.neighbours, -1);
    }
    return gcn_logits(x, knn, false);
  }
  return body->forward(x);
}

torch::Tensor ClassifierImpl::forward_training(const torch::Tensor& features) {
  if (options_.head == Head::Gcn) return gcn_logits({}, {}, true);
  return forward(features);
}

}  // namespace marrow::models
