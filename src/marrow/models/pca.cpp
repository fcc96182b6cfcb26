#include "marrow/models/pca.hpp"

#include "marrow/core/error.hpp"

#include "marrow/models/batching.hpp"
#include "marrow/models/model_file.hpp"
#include "marrow/preprocess/qc.hpp"

namespace marrow::models {

namespace {

constexpr const char* kKind = "pca";

torch::Tensor dense_all_rows(const CsrMatrix& m) {
  std::vector<int64_t> rows(static_cast<size_t>(m.rows));
  for (int64_t i = 0; i < m.rows; ++i) rows[i] = i;
  return dense_rows(m, rows);
}

}  // namespace

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

preprocess::Preprocessor fit_baseline_preprocessing(const AnnData& train, int64_t genes) {
  preprocess::PreprocessOptions p;
  p.qc.min_cells = 3;
  p.hvg = preprocess::HvgFlavor::SeuratV3;
  p.n_top_genes = genes;
  p.scale = true;
  return preprocess::Preprocessor::fit(train, p);
}

PcaEncoder::PcaEncoder(const std::string& path, nlohmann::json meta, preprocess::Preprocessor preprocessor,
                       PcaProjection projection)
    : CellEncoder(path, std::move(meta)), preprocessor_(std::move(preprocessor)), projection_(std::move(projection)) {
  components_ = projection_->named_buffers()["components"].size(1);
}

std::unique_ptr<PcaEncoder> PcaEncoder::fit(const AnnData& train, int64_t genes, int64_t components, uint64_t seed) {
  preprocess::Preprocessor preprocessor = fit_baseline_preprocessing(train, genes);
  auto encoder = std::make_unique<PcaEncoder>("", nlohmann::json::object(), std::move(preprocessor),
                                              PcaProjection(0, 0));
  torch::Tensor x = encoder->expression(train);
  const int64_t k = std::min<int64_t>({components, train.n_cells() - 1, x.size(1)});
  encoder->projection_ = PcaProjection(x.size(1), k);
  encoder->projection_->fit(x, seed);
  encoder->components_ = k;
  return encoder;
}

torch::Tensor scaled_expression(const preprocess::Preprocessor& preprocessor, const AnnData& data) {
  torch::Tensor x = dense_all_rows(preprocessor.transform(data));
  preprocessor.scale_rows(x.data_ptr<float>(), x.size(0));
  return x;
}

torch::Tensor PcaEncoder::expression(const AnnData& data) const { return scaled_expression(preprocessor_, data); }

torch::Tensor PcaEncoder::project(const torch::Tensor& expression) const {
  torch::NoGradGuard no_grad;
  return projection_->forward(expression);
}

DenseMatrix PcaEncoder::encode(const CellSource& cells) const {
  const GeneAlignment alignment = preprocessor_.qc_genes().align(cells.genes(), {}, cells.name());
  DenseMatrix out{cells.n_cells(), components_, std::vector<float>(static_cast<size_t>(cells.n_cells() * components_))};
  cells.for_each_block([&](const CsrMatrix& counts, std::span<const int64_t> positions) {
    preprocess::require_counts(counts, cells.name());
    torch::Tensor x = dense_all_rows(preprocessor_.model_input(counts, alignment).log_normalised);
    preprocessor_.scale_rows(x.data_ptr<float>(), x.size(0));
    torch::Tensor z = project(x).contiguous();
    for (size_t i = 0; i < positions.size(); ++i)
      std::copy(z.data_ptr<float>() + i * components_, z.data_ptr<float>() + (i + 1) * components_,
                out.values.begin() + positions[i] * components_);
  });
  return out;
}

void PcaEncoder::save(const std::string& path, nlohmann::json run) const {
  nlohmann::json meta = {{"preprocessing", preprocessor_.to_json()}, {"components", components_}, {"run", std::move(run)}};
  save_model(path, kKind, meta, *projection_);
}

std::unique_ptr<CellEncoder> load_pca_encoder(const std::string& path, const ModelHeader& header, const EncodeSettings&) {
  preprocess::Preprocessor preprocessor = preprocess::Preprocessor::from_json(header.meta.at("preprocessing"));
  const int64_t components = header.meta.at("components").get<int64_t>();
  PcaProjection projection(static_cast<int64_t>(preprocessor.output_genes().size()), components);
  load_model_weights(path, *projection);
  return std::make_unique<PcaEncoder>(path, header.meta, std::move(preprocessor), std::move(projection));
}

}  // namespace marrow::models
