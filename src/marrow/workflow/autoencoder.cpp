#include "marrow/workflow/autoencoder.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <unordered_map>
#include <fmt/ranges.h>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/version.hpp"
#include "marrow/io/h5ad_writer.hpp"
#include "marrow/io/load.hpp"
#include "marrow/models/autoencoder.hpp"
#include "marrow/models/batching.hpp"
#include "marrow/data/selection.hpp"
#include "marrow/models/model_file.hpp"
#include "marrow/preprocess/qc.hpp"
#include "marrow/runtime/distributed.hpp"
#include "marrow/runtime/torch_runtime.hpp"
#include "marrow/train/trainer.hpp"
#include "marrow/workflow/exceiver.hpp"
#include "marrow/workflow/streamed_cells.hpp"
#include "marrow/workflow/run_metadata.hpp"

namespace marrow::workflow {

namespace {

constexpr const char* kKind = "autoencoder";

// Sparse input pays for stored values only; below this density it beats the dense first layer
// (measured in bench/: docs/models.md).
constexpr double kSparseInputDensity = 0.25;

// How a batch of cells is laid out for the model.
struct BatchLayout {
  bool sparse = false;        // the first layer reads the sparse form (never for scaled input)
  bool counts = false;        // count losses: raw counts and library sizes
  bool dense_target = false;  // MSE: the dense input is also the reconstruction target
};

models::CellBatch make_batch(const preprocess::Preprocessor& preprocessor, const preprocess::Preprocessor::ModelInput& data,
                             std::span<const int64_t> rows, const BatchLayout& layout) {
  models::CellBatch b;
  // Standardisation makes every value non-zero, so a scaled input is always dense.
  bool use_sparse = layout.sparse && !preprocessor.scales();
  if (!use_sparse || layout.dense_target) {
    b.input = models::dense_rows(data.log_normalised, rows);
    preprocessor.scale_rows(b.input.data_ptr<float>(), b.input.size(0));
  }
  if (use_sparse) {
    models::SparseRows s = models::sparse_rows(data.log_normalised, rows);
    b.sparse = {s.indices, s.offsets, s.values};
  }
  if (layout.counts) {
    b.counts = models::dense_rows(data.counts, rows);
    b.library = models::gather(data.library_size, rows);
  }
  return b;
}

bool choose_sparse(const std::string& mode, double density, bool scaled) {
  if (mode == "dense" || scaled) return false;
  if (mode == "sparse") return true;
  if (mode != "auto") fail("input layer must be dense, sparse or auto, got '{}'", mode);
  return density < kSparseInputDensity;
}

using CellLoss = std::function<torch::Tensor(const models::CellBatch&)>;

// Where pretraining reads its cells from: memory, or the file a chunk at a time. Training rows are
// positions 0..n_train-1 of the training part.
struct Corpus {
  std::shared_ptr<const preprocess::Preprocessor> preprocessor;
  Parts parts;
  int64_t n_train = 0, n_validation = 0;
  double density = 0;  // of the training cells' log-normalised values (the first chunk's when streaming)
  std::function<models::CellBatch(const std::vector<int64_t>&, const BatchLayout&)> train_batch;
  // Mean loss over the validation cells, in batches (called in eval mode without gradients).
  std::function<double(const BatchLayout&, const CellLoss&)> validation;
  train::EpochOrder order;        // empty: the trainer's shuffle
  std::function<void()> report;   // after training
};

Corpus in_memory_corpus(const PretrainOptions& options) {
  AnnData data = load_cells(options.data);
  Corpus corpus;
  corpus.parts = resolve_parts(data.obs, options.split, options.data.path);
  AnnData train_cells = data.select_cells(corpus.parts.train);
  auto preprocessor = std::make_shared<preprocess::Preprocessor>(preprocess::Preprocessor::fit(train_cells, options.preprocess));
  spdlog::info("preprocessing fitted on {} training cells: {}", train_cells.n_cells(), preprocessor->summary());
  auto train = std::make_shared<preprocess::Preprocessor::ModelInput>(preprocessor->model_input(train_cells));
  auto validation = std::make_shared<preprocess::Preprocessor::ModelInput>(
      preprocessor->model_input(data.select_cells(corpus.parts.validation)));
  corpus.preprocessor = preprocessor;
  corpus.n_train = train->log_normalised.rows;
  corpus.n_validation = validation->log_normalised.rows;
  corpus.density = train->log_normalised.density();
  corpus.train_batch = [=](const std::vector<int64_t>& rows, const BatchLayout& layout) {
    return make_batch(*preprocessor, *train, rows, layout);
  };
  corpus.validation = [=](const BatchLayout& layout, const CellLoss& loss) {
    return mean_over_batches(all_rows(validation->log_normalised.rows), 1024, [&](std::span<const int64_t> batch) {
      return loss(make_batch(*preprocessor, *validation, batch, layout)).item<double>();
    });
  };
  return corpus;
}

Corpus streamed_corpus(const PretrainOptions& options) {
  auto stream = std::make_shared<StreamedTraining>(options.data, options.split, options.streaming, options.train.distributed);
  Corpus corpus;
  corpus.parts = stream->parts();
  // Each rank reads its own chunks; the statistics are summed over ranks.
  preprocess::CountBlocks blocks = stream->train().blocks(stream->own_train_chunks());
  blocks.sum_over_ranks = stream->sum_over_ranks();
  auto preprocessor = std::make_shared<preprocess::Preprocessor>(preprocess::Preprocessor::fit(blocks, options.preprocess));
  spdlog::info("preprocessing fitted on {} training cells, streamed in chunks of {}: {}", stream->train().size(),
               options.streaming.chunk_cells, preprocessor->summary());
  GeneAlignment alignment = preprocessor->qc_genes().align(stream->file().var, {}, stream->file().path);
  corpus.preprocessor = preprocessor;
  corpus.n_train = stream->train().size();
  corpus.n_validation = static_cast<int64_t>(stream->parts().validation.size());
  corpus.density = preprocessor->model_input(stream->train().read_chunk(0), alignment).log_normalised.density();

  const bool counts = options.model.loss != models::ReconstructionLoss::Mse;  // count losses read raw counts
  stream->set_transform([preprocessor, alignment](const CsrMatrix& block, std::span<const int64_t>) {
    return preprocessor->model_input(block, alignment);
  }, static_cast<int64_t>(preprocessor->output_genes().size()), counts);
  const int64_t batch_size = options.train.batch_size;
  corpus.order = [stream, batch_size](uint64_t epoch_seed) { return stream->epoch_order(epoch_seed, batch_size); };
  corpus.train_batch = [stream, preprocessor](const std::vector<int64_t>& rows, const BatchLayout& layout) {
    return make_batch(*preprocessor, stream->fetch_train(rows), all_rows(static_cast<int64_t>(rows.size())), layout);
  };
  corpus.validation = [stream, preprocessor](const BatchLayout& layout, const CellLoss& loss) {
    return stream->validate(1024, [&](const StreamedRows& rows, std::span<const int64_t> batch) {
      return loss(make_batch(*preprocessor, rows, all_rows(static_cast<int64_t>(batch.size())), layout)).item<double>();
    });
  };
  corpus.report = [stream] { spdlog::info("{}", stream->summary()); };
  return corpus;
}

}  // namespace

PretrainSummary pretrain_autoencoder(const PretrainOptions& options) {
  if (options.out.empty()) fail("pretrain: --out is required");
  check_output_directory(options.out);
  check_output_directory(options.train.metrics);
  Corpus corpus = options.stream ? streamed_corpus(options) : in_memory_corpus(options);
  const preprocess::Preprocessor& preprocessor = *corpus.preprocessor;

  models::AutoencoderOptions model_options = options.model;
  model_options.n_genes = static_cast<int64_t>(preprocessor.output_genes().size());
  torch::manual_seed(options.train.seed);
  models::Autoencoder model(model_options);
  bool counts = model_options.loss != models::ReconstructionLoss::Mse;
  bool sparse = choose_sparse(options.input_layer, corpus.density, preprocessor.scales());
  spdlog::info("autoencoder {} genes -> {} -> {} latent, {} loss, {} input layer (density {:.3f})", model_options.n_genes,
               fmt::join(model_options.hidden, " -> "), model_options.latent, models::loss_name(model_options.loss),
               sparse ? "sparse" : "dense", corpus.density);
  const BatchLayout layout{sparse, counts, !counts};

  train::TrainOptions train_options = options.train;
  if (train_options.checkpoint.empty()) train_options.checkpoint = options.out + ".ckpt";
  if (train_options.label == "train") train_options.label = "pretrain ae";
  const CellLoss loss = [&](const models::CellBatch& batch) { return model->loss(batch); };
  train::TrainResult result = train::fit(
      *model, corpus.n_train,
      [&](const std::vector<int64_t>& rows) {
        models::CellBatch batch = corpus.train_batch(rows, layout);
        batch.cells = rows;  // the cells' masks follow the cells, whatever batch or rank they land in
        return loss(batch);
      },
      corpus.n_validation == 0 ? train::ValidationLoss{} : train::ValidationLoss([&] { return corpus.validation(layout, loss); }),
      train_options, corpus.order);
  if (corpus.report) corpus.report();

  PretrainSummary summary;
  summary.train_cells = corpus.n_train;
  summary.validation_cells = corpus.n_validation;
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
                                              options.train, result, corpus.parts)}};
  if (options.stream)
    meta["run"]["streaming"] = {{"chunk_cells", options.streaming.chunk_cells}, {"shuffle_buffer", options.streaming.shuffle_buffer}};
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

// embed --stream: the whole input file (its copy gets the embedding), read a chunk at a time.
struct WholeFileStream {
  StreamedFile file;
  StreamedCounts cells;
  explicit WholeFileStream(const EmbedOptions& options)
      : file(open_whole(options)), cells(file, file.rows, options.streaming.chunk_cells) {}
  WholeFileStream(const WholeFileStream&) = delete;  // cells points into file

 private:
  static StreamedFile open_whole(const EmbedOptions& options) {
    if (!options.data.cells.empty())
      fail("embed --stream writes a copy of the whole input file with the embedding added; --cells would need the "
           "selected cells' matrix written out whole. Select the cells in a separate file first, or drop --stream");
    return open_streamed(options.data);
  }
};

}  // namespace

int64_t embed(const EmbedOptions& options) {
  if (options.out.empty()) fail("embed: --out is required");
  check_output_directory(options.out);
  models::ModelHeader header = models::read_model_header(options.model);
  if (header.kind == "exceiver") {
    int64_t genes = header.meta.contains("vocabulary") ? static_cast<int64_t>(header.meta["vocabulary"].size()) : 0;
    if (options.stream) {
      WholeFileStream s(options);
      DenseMatrix embedding = exceiver_embed(
          options.model, s.file.var, s.file.path, s.cells.size(),
          [&](const CountBlockVisitor& visit) {
            for (size_t k = 0; k < s.cells.chunks().size(); ++k) visit(s.cells.read_chunk(k), s.cells.chunks().positions[k]);
          },
          [&](int64_t row) { return s.file.obs.index[row]; }, options.case_insensitive, 256, options.device);
      write_embedding(options, AnnData{}, std::move(embedding), header.meta, genes);
      return s.cells.size();
    }
    AnnData data = load_cells(options.data);
    DenseMatrix embedding = exceiver_embed(options.model, data, options.case_insensitive, 256, options.device);
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

  AlignOptions align;
  align.case_insensitive = options.case_insensitive;
  const BatchLayout layout{header.meta.value("input_layer", "dense") == "sparse" && !preprocessor.scales(), false, false};
  const int64_t latent = model_options.latent;
  // Encodes every row of `input` in batches; row i's vector goes to embedding row target[i].
  auto encode_rows = [&](const preprocess::Preprocessor::ModelInput& input, std::span<const int64_t> target, DenseMatrix& embedding) {
    torch::NoGradGuard no_grad;
    const int64_t n = input.log_normalised.rows;
    for (int64_t start = 0; start < n; start += options.batch_size) {
      std::vector<int64_t> rows = all_rows(std::min(n, start + options.batch_size) - start);
      for (auto& r : rows) r += start;
      torch::Tensor z = model->encode(make_batch(preprocessor, input, rows, layout)).cpu().contiguous();
      for (size_t i = 0; i < rows.size(); ++i)
        std::copy(z.data_ptr<float>() + i * latent, z.data_ptr<float>() + (i + 1) * latent,
                  embedding.values.begin() + target[rows[i]] * latent);
    }
  };
  const auto genes = static_cast<int64_t>(preprocessor.output_genes().size());

  if (options.stream) {
    WholeFileStream s(options);
    GeneAlignment alignment = preprocessor.qc_genes().align(s.file.var, align, s.file.path);
    DenseMatrix embedding{s.cells.size(), latent, std::vector<float>(static_cast<size_t>(s.cells.size() * latent))};
    for (size_t k = 0; k < s.cells.chunks().size(); ++k) {
      CsrMatrix block = s.cells.read_chunk(k);
      preprocess::require_counts(block, s.file.path);
      encode_rows(preprocessor.model_input(block, alignment), s.cells.chunks().positions[k], embedding);
    }
    write_embedding(options, AnnData{}, std::move(embedding), header.meta, genes);
    return s.cells.size();
  }
  AnnData data = load_cells(options.data);
  auto input = preprocessor.model_input(data, align);
  DenseMatrix embedding{data.n_cells(), latent, std::vector<float>(static_cast<size_t>(data.n_cells() * latent))};
  encode_rows(input, all_rows(data.n_cells()), embedding);
  write_embedding(options, data, std::move(embedding), header.meta, genes);
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
