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
  corpus.train_batch = [=](const std::vector<int64_t>& rows, const models::BatchLayout& layout) {
    return models::make_batch(*preprocessor, *train, rows, layout);
  };
  corpus.validation = [=](const models::BatchLayout& layout, const CellLoss& loss) {
    return mean_over_batches(all_rows(validation->log_normalised.rows), 1024, [&](std::span<const int64_t> batch) {
      return loss(models::make_batch(*preprocessor, *validation, batch, layout)).item<double>();
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
  bool sparse = models::choose_sparse(options.input_layer, corpus.density, preprocessor.scales());
  spdlog::info("autoencoder {} genes -> {} -> {} latent, {} loss, {} input layer (density {:.3f})", model_options.n_genes,
               fmt::join(model_options.hidden, " -> "), model_options.latent, model_options.loss,
               sparse ? "sparse" : "dense", corpus.density);
  const models::BatchLayout layout{sparse, counts, !counts};

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
                         {"run", run_metadata("pretrain ae", options.data.path, options.data.matrix, options.data.cells,
                                              options.train, result, corpus.parts)}};
  if (options.stream)
    meta["run"]["streaming"] = {{"chunk_cells", options.streaming.chunk_cells}, {"shuffle_buffer", options.streaming.shuffle_buffer}};
  models::save_model(options.out, kKind, meta, *model);
  std::error_code ec;
  std::filesystem::remove(train_options.checkpoint, ec);  // the finished model supersedes it
  return summary;
}

}  // namespace marrow::workflow
