#include "marrow/workflow/autoencoder.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <unordered_map>
#include <fmt/ranges.h>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/version.hpp"
#include "marrow/io/h5ad_writer.hpp"
#include "marrow/io/load.hpp"
#include "marrow/models/autoencoder.hpp"
#include "marrow/models/batching.hpp"
#include "marrow/models/model_file.hpp"
#include "marrow/runtime/distributed.hpp"
#include "marrow/runtime/torch_runtime.hpp"
#include "marrow/train/trainer.hpp"
#include "marrow/workflow/exceiver.hpp"

namespace marrow::workflow {

namespace {

constexpr const char* kKind = "autoencoder";

// Sparse input pays for stored values only; below this density it beats the dense first layer
// (measured in bench/: docs/models.md).
constexpr double kSparseInputDensity = 0.25;

struct Inputs {
  const preprocess::Preprocessor* preprocessor;
  const preprocess::Preprocessor::ModelInput* data;
  bool sparse;        // the first layer reads the sparse form (never for scaled input)
  bool counts;        // count losses: raw counts and library sizes
  bool dense_target;  // MSE: the dense input is also the reconstruction target

  models::CellBatch batch(std::span<const int64_t> rows) const {
    models::CellBatch b;
    // Standardisation makes every value non-zero, so a scaled input is always dense.
    bool use_sparse = sparse && !preprocessor->scales();
    if (!use_sparse || dense_target) {
      b.input = models::dense_rows(data->log_normalised, rows);
      preprocessor->scale_rows(b.input.data_ptr<float>(), b.input.size(0));
    }
    if (use_sparse) {
      models::SparseRows s = models::sparse_rows(data->log_normalised, rows);
      b.sparse = {s.indices, s.offsets, s.values};
    }
    if (counts) {
      b.counts = models::dense_rows(data->counts, rows);
      b.library = models::gather(data->library_size, rows);
    }
    return b;
  }
};

bool choose_sparse(const std::string& mode, const CsrMatrix& m, bool scaled) {
  if (mode == "dense" || scaled) return false;
  if (mode == "sparse") return true;
  if (mode != "auto") fail("input layer must be dense, sparse or auto, got '{}'", mode);
  return m.density() < kSparseInputDensity;
}

}  // namespace

PretrainSummary pretrain_autoencoder(const PretrainOptions& options) {
  if (options.out.empty()) fail("pretrain: --out is required");
  check_output_directory(options.out);
  AnnData data = load_cells(options.data);
  Parts parts = resolve_parts(data.obs, options.split, options.data.path);
  AnnData train_cells = data.select_cells(parts.train);
  preprocess::Preprocessor preprocessor = preprocess::Preprocessor::fit(train_cells, options.preprocess);
  spdlog::info("preprocessing fitted on {} training cells: {}", train_cells.n_cells(), preprocessor.summary());
  auto train_input = preprocessor.model_input(train_cells);
  auto validation_input = preprocessor.model_input(data.select_cells(parts.validation));

  models::AutoencoderOptions model_options = options.model;
  model_options.n_genes = static_cast<int64_t>(preprocessor.output_genes().size());
  torch::manual_seed(options.train.seed);
  models::Autoencoder model(model_options);
  bool counts = model_options.loss != models::ReconstructionLoss::Mse;
  bool sparse = choose_sparse(options.input_layer, train_input.log_normalised, preprocessor.scales());
  spdlog::info("autoencoder {} genes -> {} -> {} latent, {} loss, {} input layer (density {:.3f})", model_options.n_genes,
               fmt::join(model_options.hidden, " -> "), model_options.latent, models::loss_name(model_options.loss),
               sparse ? "sparse" : "dense", train_input.log_normalised.density());

  Inputs train_batches{&preprocessor, &train_input, sparse, counts, !counts};
  Inputs validation_batches{&preprocessor, &validation_input, sparse, counts, !counts};
  std::vector<int64_t> validation_rows(validation_input.log_normalised.rows);
  for (size_t i = 0; i < validation_rows.size(); ++i) validation_rows[i] = static_cast<int64_t>(i);

  train::TrainOptions train_options = options.train;
  if (train_options.checkpoint.empty()) train_options.checkpoint = options.out + ".ckpt";
  if (train_options.label == "train") train_options.label = "pretrain ae";
  train::TrainResult result = train::fit(
      *model, train_input.log_normalised.rows,
      [&](const std::vector<int64_t>& rows) { return model->loss(train_batches.batch(rows)); },
      validation_rows.empty() ? train::ValidationLoss{}
                              : train::ValidationLoss([&] {
                                  return train::evaluate_in_batches(*model, validation_rows, 1024, [&](const std::vector<int64_t>& rows) {
                                    return model->loss(validation_batches.batch(rows));
                                  });
                                }),
      train_options);

  PretrainSummary summary;
  summary.train_cells = train_input.log_normalised.rows;
  summary.validation_cells = validation_input.log_normalised.rows;
  summary.genes = model_options.n_genes;
  summary.epochs_run = result.history.empty() ? 0 : result.history.back().epoch;
  summary.best_epoch = result.best_epoch;
  summary.best_validation = result.best_validation;
  summary.completed = result.completed;
  if (!result.completed) {
    spdlog::info("stopped after epoch {} as asked; continue with --resume (checkpoint {})", summary.epochs_run,
                 train_options.checkpoint);
    return summary;
  }
  if (options.train.distributed && !options.train.distributed->primary()) return summary;  // rank 0 writes the model
  nlohmann::json meta = {{"model", model_options.to_json()},
                         {"preprocessing", preprocessor.to_json()},
                         {"input_layer", sparse ? "sparse" : "dense"},
                         {"run", run_metadata("pretrain ae", options.data.path, options.data.matrix, options.data.cells,
                                              options.train, result, parts)}};
  models::save_model(options.out, kKind, meta, *model);
  std::error_code ec;
  std::filesystem::remove(train_options.checkpoint, ec);  // the finished model supersedes it
  return summary;
}

namespace {

void write_embedding(const EmbedOptions& options, const AnnData& data, DenseMatrix embedding, const nlohmann::json& meta,
                     int64_t genes) {
  io::H5adAdditions additions;
  additions.obsm[options.key] = std::move(embedding);
  additions.uns["marrow_embed"] = {{"model", options.model},
                                   {"key", options.key},
                                   {"marrow_version", kVersion},
                                   {"model_input", meta.contains("run") ? meta["run"].value("input", "") : ""},
                                   {"genes", genes}};
  write_results(options.data, data, additions, options.out);
}

}  // namespace

int64_t embed(const EmbedOptions& options) {
  if (options.out.empty()) fail("embed: --out is required");
  check_output_directory(options.out);
  models::ModelHeader header = models::read_model_header(options.model);
  if (header.kind == "exceiver") {
    AnnData data = load_cells(options.data);
    DenseMatrix embedding = exceiver_embed(options.model, data, options.case_insensitive, 256, options.device);
    int64_t genes = header.meta.contains("vocabulary") ? static_cast<int64_t>(header.meta["vocabulary"].size()) : 0;
    write_embedding(options, data, std::move(embedding), header.meta, genes);
    return data.n_cells();
  }
  if (header.kind != kKind) fail("{}: a '{}' model does not embed cells (autoencoder and exceiver models do)", options.model, header.kind);
  models::AutoencoderOptions model_options;
  preprocess::Preprocessor preprocessor;
  try {
    model_options = models::AutoencoderOptions::from_json(header.meta.at("model"));
    preprocessor = preprocess::Preprocessor::from_json(header.meta.at("preprocessing"));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: model metadata is incomplete: {}", options.model, e.what());
  }
  models::Autoencoder model(model_options);
  models::load_model_weights(options.model, *model);
  model->eval();
  model->to(torch::Device(runtime::check_device(options.device)));

  AnnData data = load_cells(options.data);
  AlignOptions align;
  align.case_insensitive = options.case_insensitive;
  auto input = preprocessor.model_input(data, align);
  bool sparse = header.meta.value("input_layer", "dense") == "sparse" && !preprocessor.scales();
  Inputs batches{&preprocessor, &input, sparse, false, false};  // encoding only: no target
  DenseMatrix embedding{data.n_cells(), model_options.latent, std::vector<float>(data.n_cells() * model_options.latent)};
  torch::NoGradGuard no_grad;
  for (int64_t start = 0; start < data.n_cells(); start += options.batch_size) {
    std::vector<int64_t> rows;
    for (int64_t r = start; r < std::min(data.n_cells(), start + options.batch_size); ++r) rows.push_back(r);
    torch::Tensor z = model->encode(batches.batch(rows)).cpu().contiguous();
    std::copy(z.data_ptr<float>(), z.data_ptr<float>() + z.numel(), embedding.values.begin() + start * model_options.latent);
  }
  write_embedding(options, data, std::move(embedding), header.meta, static_cast<int64_t>(preprocessor.output_genes().size()));
  return data.n_cells();
}

std::vector<std::vector<double>> autoencoder_impute(const std::string& path, const AnnData& data,
                                                    const std::vector<std::vector<std::string>>& masked,
                                                    const std::vector<double>& totals, double target_sum) {
  models::ModelHeader header = models::read_model_header(path, kKind);
  models::AutoencoderOptions model_options = models::AutoencoderOptions::from_json(header.meta.at("model"));
  if (model_options.loss != models::ReconstructionLoss::Mse)
    fail("{}: imputation compares MSE autoencoders (this one has the {} loss)", path, models::loss_name(model_options.loss));
  preprocess::Preprocessor preprocessor = preprocess::Preprocessor::from_json(header.meta.at("preprocessing"));
  models::Autoencoder model(model_options);
  models::load_model_weights(path, *model);
  model->eval();
  auto input = preprocessor.model_input(data);
  std::unordered_map<std::string, int64_t> column;
  for (size_t g = 0; g < preprocessor.output_genes().size(); ++g) column[preprocessor.output_genes()[g]] = static_cast<int64_t>(g);
  const double model_target = preprocessor.options().target_sum;
  const auto& scaler = preprocessor.scaler();
  std::vector<std::vector<double>> out(masked.size());
  torch::NoGradGuard no_grad;
  const int64_t n = data.n_cells(), genes = static_cast<int64_t>(column.size());
  for (int64_t start = 0; start < n; start += 256) {
    std::vector<int64_t> rows;
    for (int64_t r = start; r < std::min(n, start + 256); ++r) rows.push_back(r);
    models::CellBatch batch;
    batch.input = models::dense_rows(input.log_normalised, rows);
    auto x = batch.input.accessor<float, 2>();
    for (size_t i = 0; i < rows.size(); ++i)
      for (const auto& gene : masked[rows[i]]) {
        auto it = column.find(gene);
        if (it != column.end()) x[static_cast<int64_t>(i)][it->second] = 0.0f;
      }
    preprocessor.scale_rows(batch.input.data_ptr<float>(), batch.input.size(0));
    torch::Tensor reconstruction = model->decode(model->encode(batch)).contiguous();
    auto y = reconstruction.accessor<float, 2>();
    for (size_t i = 0; i < rows.size(); ++i) {
      const int64_t r = rows[i];
      for (const auto& gene : masked[r]) {
        auto it = column.find(gene);
        if (it == column.end() || it->second >= genes) {
          out[r].push_back(NAN);
          continue;
        }
        double value = y[static_cast<int64_t>(i)][it->second];
        if (preprocessor.scales()) value = value * scaler.sd[it->second] + scaler.mean[it->second];
        // From the model's normalisation (its library, its target) to the caller's.
        double share = std::expm1(std::max(value, 0.0)) / model_target * input.library_size[r];
        out[r].push_back(totals[r] > 0 ? std::log1p(share / totals[r] * target_sum) : 0.0);
      }
    }
  }
  return out;
}

}  // namespace marrow::workflow
