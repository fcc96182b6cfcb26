#include "marrow/workflow/autoencoder.hpp"

#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <unordered_map>
#include <fmt/ranges.h>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/version.hpp"
#include "marrow/io/h5ad_writer.hpp"
#include "marrow/io/load.hpp"
#include "marrow/models/autoencoder.hpp"
#include "marrow/models/autoencoder.hpp"
#include "marrow/data/selection.hpp"
#include "marrow/models/model_file.hpp"
#include "marrow/preprocess/qc.hpp"
#include "marrow/runtime/distributed.hpp"
#include "marrow/runtime/torch_runtime.hpp"
#include "marrow/train/trainer.hpp"
#include "marrow/workflow/streamed_cells.hpp"
#include "marrow/workflow/run_metadata.hpp"

namespace marrow::workflow {

namespace {

constexpr const char* kKind = "autoencoder";

using CellLoss = std::function<torch::Tensor(const models::CellBatch&)>;

// Where pretraining reads its cells from: memory, or the file a chunk at a time. Training rows are
// positions 0..n_train-1 of the training part.
struct Corpus {
  std::shared_ptr<const preprocess::Preprocessor> preprocessor;
  Parts parts;
  int64_t n_train = 0, n_validation = 0;
  double density = 0;  // of the training cells' log-normalised values (the first chunk's when streaming)
  std::function<models::CellBatch(const std::vector<int64_t>&, const models::BatchLayout&)> train_batch;
  // Mean loss over the validation cells, in batches (called in eval mode without gradients).
  std::function<double(const models::BatchLayout&, const CellLoss&)> validation;
  train::EpochOrder order;        // empty: the trainer's shuffle
  std::function<void()> report;   // after training
  std::vector<std::string> batch_categories;  // --batch-key: the training cells' categories
};

// --batch-key: each cell's category among the training cells' (sorted), -1 for one they lack.
struct BatchCovariate {
  std::vector<std::string> categories;
  std::vector<int64_t> train_codes, validation_codes;
};

BatchCovariate batch_covariate(const AnnData& data, const Parts& parts, const std::string& key, const std::string& path) {
  const Column& column = data.obs.require(key);
  std::set<std::string> seen;
  for (int64_t r : parts.train) {
    if (column.is_missing(static_cast<size_t>(r))) fail("{}: training cell {} has no value in the batch column '{}'", path, data.obs.index[r], key);
    seen.insert(column.text(static_cast<size_t>(r)));
  }
  BatchCovariate b;
  b.categories.assign(seen.begin(), seen.end());
  auto codes = [&](const std::vector<int64_t>& rows) {
    std::vector<int64_t> out;
    for (int64_t r : rows) {
      const std::string value = column.text(static_cast<size_t>(r));
      auto it = std::lower_bound(b.categories.begin(), b.categories.end(), value);
      out.push_back(it != b.categories.end() && *it == value ? it - b.categories.begin() : -1);
    }
    return out;
  };
  b.train_codes = codes(parts.train);
  b.validation_codes = codes(parts.validation);
  spdlog::info("batch covariate '{}': {} categories among the training cells", key, b.categories.size());
  return b;
}

torch::Tensor codes_of(const std::vector<int64_t>& codes, std::span<const int64_t> rows) {
  std::vector<int64_t> batch;
  batch.reserve(rows.size());
  for (int64_t r : rows) batch.push_back(codes[static_cast<size_t>(r)]);
  return torch::tensor(batch, torch::kInt64);
}

Corpus in_memory_corpus(const PretrainOptions& options) {
  AnnData data = load_cells(options.data);
  Corpus corpus;
  corpus.parts = resolve_parts(data.obs, options.split, options.data.path);
  auto covariate = std::make_shared<BatchCovariate>();
  if (!options.model.batch_key.empty())
    *covariate = batch_covariate(data, corpus.parts, options.model.batch_key, options.data.path);
  corpus.batch_categories = covariate->categories;
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
  corpus.train_batch = [=](const std::vector<int64_t>& rows, const models::BatchLayout& layout) {
    models::CellBatch batch = models::make_batch(*preprocessor, *train, rows, layout);
    if (!covariate->categories.empty()) batch.batch_codes = codes_of(covariate->train_codes, rows);
    return batch;
  };
  corpus.validation = [=](const models::BatchLayout& layout, const CellLoss& loss) {
    return mean_over_batches(all_rows(validation->log_normalised.rows), 1024, [&](std::span<const int64_t> rows) {
      models::CellBatch batch = models::make_batch(*preprocessor, *validation, rows, layout);
      if (!covariate->categories.empty()) batch.batch_codes = codes_of(covariate->validation_codes, rows);
      return loss(batch).item<double>();
    });
  };
  return corpus;
}

Corpus streamed_corpus(const PretrainOptions& options) {
  if (!options.model.batch_key.empty())
    fail("{}: --batch-key is not available with --stream yet; pretrain in memory, or without the batch covariate", options.data.path);
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
  corpus.train_batch = [stream, preprocessor](const std::vector<int64_t>& rows, const models::BatchLayout& layout) {
    return models::make_batch(*preprocessor, stream->fetch_train(rows), all_rows(static_cast<int64_t>(rows.size())), layout);
  };
  corpus.validation = [stream, preprocessor](const models::BatchLayout& layout, const CellLoss& loss) {
    return stream->validate(1024, [&](const StreamedRows& rows, std::span<const int64_t> batch) {
      return loss(models::make_batch(*preprocessor, rows, all_rows(static_cast<int64_t>(batch.size())), layout)).item<double>();
    });
  };
  corpus.report = [stream] { spdlog::info("{}", stream->summary()); };
  return corpus;
}

// Training steps in options.kl_warmup_epochs epochs (one step per global batch).
int64_t kl_warmup_steps(const PretrainOptions& options, int64_t n_train) {
  const int64_t epoch_steps = train::steps_per_epoch(n_train, options.train.batch_size);
  return static_cast<int64_t>(std::llround(options.kl_warmup_epochs * static_cast<double>(epoch_steps)));
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
  model_options.batch_categories = corpus.batch_categories;
  if (model_options.variational) model_options.kl_warmup_steps = kl_warmup_steps(options, corpus.n_train);
  torch::manual_seed(options.train.seed);
  models::Autoencoder model(model_options);
  bool counts = model_options.loss != models::ReconstructionLoss::Mse;
  bool sparse = models::choose_sparse(options.input_layer, corpus.density, preprocessor.scales());
  spdlog::info("autoencoder {} genes -> {} -> {} latent, {} loss, {} input layer (density {:.3f})", model_options.n_genes,
               fmt::join(model_options.hidden, " -> "), model_options.latent, model_options.loss,
               sparse ? "sparse" : "dense", corpus.density);
  const models::BatchLayout layout{sparse, counts, !counts};

  train::TrainOptions train_options = options.train;
  if (train_options.checkpoint.empty()) train_options.checkpoint = options.out + ".ckpt";
  if (train_options.label == "train") train_options.label = model_options.variational ? "pretrain vae" : "pretrain ae";
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

  PretrainSummary summary = summarise_pretraining(result, corpus.n_train, corpus.n_validation, model_options.n_genes);
  if (!result.completed) {
    spdlog::info("stopped after epoch {} as asked; continue with --resume (checkpoint {})", summary.epochs_run,
                 train_options.checkpoint);
    return summary;
  }
  if (options.train.distributed && !options.train.distributed->primary()) return summary;  // rank 0 writes the model
  nlohmann::json meta = {{"model", model_options.to_json()},
                         {"preprocessing", preprocessor.to_json()},
                         {"input_layer", sparse ? "sparse" : "dense"},
                         {"run", run_metadata(model_options.variational ? "pretrain vae" : "pretrain ae", options.data.path, options.data.matrix, options.data.cells,
                                              options.train, result, corpus.parts)}};
  if (options.stream)
    meta["run"]["streaming"] = {{"chunk_cells", options.streaming.chunk_cells}, {"shuffle_buffer", options.streaming.shuffle_buffer}};
  models::save_model(options.out, kKind, meta, *model);
  std::error_code ec;
  std::filesystem::remove(train_options.checkpoint, ec);  // the finished model supersedes it
  return summary;
}

}  // namespace marrow::workflow
