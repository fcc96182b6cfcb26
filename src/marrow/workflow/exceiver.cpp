#include "marrow/workflow/exceiver.hpp"

#include <spdlog/spdlog.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/json_util.hpp"
#include "marrow/data/selection.hpp"
#include "marrow/io/h5ad_writer.hpp"
#include "marrow/models/classifier.hpp"
#include "marrow/models/encoder.hpp"
#include "marrow/models/exceiver.hpp"
#include "marrow/models/pca.hpp"
#include "marrow/models/model_file.hpp"
#include "marrow/models/token_batching.hpp"
#include "marrow/preprocess/gene_tokens.hpp"
#include "marrow/preprocess/markers.hpp"
#include "marrow/runtime/distributed.hpp"
#include "marrow/runtime/torch_runtime.hpp"
#include "marrow/train/trainer.hpp"
#include "marrow/workflow/streamed_cells.hpp"
#include "marrow/workflow/run_metadata.hpp"

namespace marrow::workflow {

namespace {

constexpr const char* kKind = "exceiver";

bool count_loss(const models::ExceiverOptions& o) { return o.loss != models::ReconstructionLoss::Mse; }

using TokenLoss = std::function<torch::Tensor(const models::TokenBatch&)>;

// Where gene-model pretraining reads its cells from: memory (one or more files) or one file a chunk
// at a time. Training rows are positions 0..n_train-1.
struct TokenCorpus {
  GeneVocabulary vocabulary;
  Parts first_parts;
  int64_t n_train = 0, n_validation = 0;
  std::pair<torch::Tensor, torch::Tensor> value_means;  // the imputation baselines the model keeps
  // Training examples of these rows with fresh masks (from torch's generator, per cell).
  std::function<std::vector<models::CellExample>(const std::vector<int64_t>&)> train_examples;
  // Mean loss over the validation cells (fixed masks), in batches; called in eval mode.
  std::function<double(const TokenLoss&)> validation;
  train::EpochOrder order;
  std::function<void()> report;
};

TokenCorpus in_memory_tokens(const ExceiverPretrainOptions& o) {
  // Load every file, then build the vocabulary as the union of their genes.
  std::vector<AnnData> files;
  for (const std::string& path : o.files) {
    DataSpec spec = o.data;
    spec.path = path;
    files.push_back(load_cells(spec));
  }
  std::vector<const AnnData*> pointers;
  for (const AnnData& f : files) pointers.push_back(&f);
  TokenCorpus corpus;
  corpus.vocabulary = preprocess::union_vocabulary(pointers);

  auto train_cells = std::make_shared<preprocess::TokenCells>();
  preprocess::TokenCells validation_cells;
  for (size_t i = 0; i < files.size(); ++i) {
    SplitChoice choice = o.split;
    if (i > 0) choice = SplitChoice{"", "", "", 0.0, o.split.validation_fraction, o.split.seed};
    Parts parts = resolve_parts(files[i].obs, choice, o.files[i]);
    preprocess::TokenCells cells = preprocess::tokenize(files[i], corpus.vocabulary, o.target_sum);
    train_cells->append(cells.select_cells(parts.train));
    validation_cells.append(cells.select_cells(parts.validation));
    spdlog::info("{}: {} training and {} validation cells, {} of {} vocabulary genes measured", o.files[i], parts.train.size(),
                 parts.validation.size(), cells.panels[0].size(), corpus.vocabulary.size());
    if (i == 0) corpus.first_parts = std::move(parts);
  }
  corpus.n_train = train_cells->n_cells();
  corpus.n_validation = validation_cells.n_cells();
  if (corpus.n_train > 0) corpus.value_means = models::gene_value_means(*train_cells, corpus.vocabulary.size());
  const models::MaskingOptions masking = o.masking;
  corpus.train_examples = [train_cells, masking](const std::vector<int64_t>& rows) {
    return models::training_examples(*train_cells, rows, masking);
  };
  // Validation masks are drawn once, so every epoch is scored on the same hidden genes.
  auto examples = std::make_shared<std::vector<models::CellExample>>();
  Rng rng(o.train.seed ^ 0x5eedULL);
  for (int64_t r = 0; r < validation_cells.n_cells(); ++r) examples->push_back(models::make_example(validation_cells, r, o.masking, rng));
  const bool counts = count_loss(o.model);
  corpus.validation = [examples, counts](const TokenLoss& loss) {
    return mean_over_batches(all_rows(static_cast<int64_t>(examples->size())), 256, [&](std::span<const int64_t> rows) {
      std::vector<models::CellExample> batch;
      for (int64_t r : rows) batch.push_back((*examples)[r]);
      return loss(models::to_batch(batch, counts)).item<double>();
    });
  };
  return corpus;
}

TokenCorpus streamed_tokens(const ExceiverPretrainOptions& o) {
  if (o.files.size() != 1)
    fail("pretrain exceiver --stream reads one file (got {}); train on several files from memory, or concatenate them first",
         o.files.size());
  DataSpec spec = o.data;
  spec.path = o.files.front();
  auto stream = std::make_shared<StreamedTraining>(spec, o.split, o.streaming, o.train.distributed);
  TokenCorpus corpus;
  corpus.first_parts = stream->parts();
  corpus.n_train = stream->train().size();
  corpus.n_validation = static_cast<int64_t>(stream->parts().validation.size());
  {
    AnnData genes;
    genes.var = stream->file().var;
    corpus.vocabulary = preprocess::union_vocabulary({&genes});
  }
  const GeneAlignment alignment = corpus.vocabulary.align(stream->file().var, {}, spec.path);
  const int64_t n_vocab = corpus.vocabulary.size();
  const double target_sum = o.target_sum;
  const std::string source = spec.path;
  auto tokens_of = [alignment, n_vocab, target_sum, source](const CsrMatrix& block, std::span<const int64_t> rows) {
    return preprocess::tokenize(block, alignment, n_vocab, target_sum, source,
                                [rows](int64_t i) { return fmt::format("file row {}", rows[i]); });
  };

  // One pass for the gene value means (each rank its own chunks, summed over ranks).
  models::GeneValueSums sums(n_vocab);
  for (size_t k : stream->own_train_chunks()) {
    const auto& positions = stream->train().chunks().positions[k];
    sums.add(tokens_of(stream->train().read_positions(positions), stream->train().file_rows(positions)));
  }
  if (const auto& sum = stream->sum_over_ranks()) {
    sum(sums.sum);
    sum(sums.cells);
    sum(sums.expressing);
  }
  corpus.value_means = sums.means();
  const std::vector<int32_t> panel = preprocess::panel_of(alignment);
  spdlog::info("{}: {} training and {} validation cells, {} of {} vocabulary genes measured, streamed in chunks of {}", source,
               corpus.n_train, corpus.n_validation, panel.size(), n_vocab, o.streaming.chunk_cells);
  // Fetched rows as token cells of the file's one panel.
  auto as_tokens = [panel](StreamedRows rows) {
    preprocess::TokenCells t;
    t.values = std::move(rows.log_normalised);
    t.counts = std::move(rows.counts);
    t.library = std::move(rows.library_size);
    t.panels = {panel};
    t.panel_of_cell.assign(static_cast<size_t>(t.values.rows), 0);
    return t;
  };
  stream->set_transform([tokens_of](const CsrMatrix& block, std::span<const int64_t> rows) {
    preprocess::TokenCells t = tokens_of(block, rows);
    return StreamedRows{std::move(t.values), std::move(t.counts), std::move(t.library)};
  }, n_vocab, true);  // examples read the raw counts

  const int64_t batch_size = o.train.batch_size;
  corpus.order = [stream, batch_size](uint64_t epoch_seed) { return stream->epoch_order(epoch_seed, batch_size); };
  const uint64_t seed = o.train.seed;
  const models::MaskingOptions masking = o.masking;
  corpus.train_examples = [stream, as_tokens, masking](const std::vector<int64_t>& rows) {
    preprocess::TokenCells cells = as_tokens(stream->fetch_train(rows));
    return models::training_examples(cells, all_rows(static_cast<int64_t>(rows.size())), masking, &rows);
  };
  // Each validation cell's mask is seeded from the seed and its position, so every epoch scores the
  // same hidden genes.
  const bool counts = count_loss(o.model);
  corpus.validation = [stream, as_tokens, masking, seed, counts](const TokenLoss& loss) {
    return stream->validate(256, [&](const StreamedRows& rows, std::span<const int64_t> batch) {
      preprocess::TokenCells cells = as_tokens(rows);
      std::vector<models::CellExample> examples;
      for (size_t i = 0; i < batch.size(); ++i) {
        Rng rng = models::cell_rng(seed ^ 0x5eedULL, batch[i]);
        examples.push_back(models::make_example(cells, static_cast<int64_t>(i), masking, rng));
      }
      return loss(models::to_batch(examples, counts)).item<double>();
    });
  };
  corpus.report = [stream] { spdlog::info("{}", stream->summary()); };
  return corpus;
}

}  // namespace

PretrainSummary pretrain_exceiver(const ExceiverPretrainOptions& o) {
  if (o.out.empty()) fail("pretrain exceiver: --out is required");
  if (o.files.empty()) fail("pretrain exceiver: give at least one --data file");
  check_output_directory(o.out);
  check_output_directory(o.train.metrics);
  if (o.masking.mask_fraction <= 0 || o.masking.mask_fraction >= 1)
    fail("--mask-fraction must be in (0, 1), got {}", o.masking.mask_fraction);
  TokenCorpus corpus = o.stream ? streamed_tokens(o) : in_memory_tokens(o);
  if (corpus.n_train == 0) fail("pretrain exceiver: no training cells");
  const GeneVocabulary& vocabulary = corpus.vocabulary;

  models::ExceiverOptions model_options = o.model;
  model_options.n_genes = vocabulary.size();
  torch::manual_seed(o.train.seed);
  models::Exceiver model(model_options);
  model->gene_mean.copy_(corpus.value_means.first);
  model->gene_mean_expressed.copy_(corpus.value_means.second);
  const bool counts = count_loss(model_options);
  spdlog::info("exceiver: {} genes, dim {}, {} latents, {} heads, {} latent layers, {} values, {} loss; mask {:.0f}% of up to {} tokens",
               vocabulary.size(), model_options.dim, model_options.latents, model_options.heads, model_options.layers,
               model_options.value_mode, model_options.loss, 100 * o.masking.mask_fraction, o.masking.max_tokens);

  train::TrainOptions train_options = o.train;
  if (train_options.checkpoint.empty()) train_options.checkpoint = o.out + ".ckpt";
  if (train_options.label == "train") train_options.label = "pretrain exceiver";
  const TokenLoss loss = [&](const models::TokenBatch& batch) { return model->loss(batch); };
  train::TrainResult result = train::fit(
      *model, corpus.n_train,
      [&](const std::vector<int64_t>& rows) {
        models::TokenBatch batch = models::to_batch(corpus.train_examples(rows), counts);
        return train::WeightedLoss{model->loss(batch), (~batch.query_padding).sum().item<double>()};
      },
      corpus.n_validation == 0 ? train::ValidationLoss{} : train::ValidationLoss([&] { return corpus.validation(loss); }),
      train_options, corpus.order);
  if (corpus.report) corpus.report();

  PretrainSummary summary = summarise_pretraining(result, corpus.n_train, corpus.n_validation, vocabulary.size());
  if (!result.completed) return summary;
  if (o.train.distributed && !o.train.distributed->primary()) return summary;  // rank 0 writes the model
  nlohmann::json meta = models::exceiver_meta(model_options, vocabulary, o.target_sum, o.masking);
  meta["files"] = o.files;
  meta["run"] = run_metadata("pretrain exceiver", o.files.front(), o.data.matrix, o.data.cells, o.train, result, corpus.first_parts);
  if (o.stream) meta["run"]["streaming"] = {{"chunk_cells", o.streaming.chunk_cells}, {"shuffle_buffer", o.streaming.shuffle_buffer}};
  models::save_model(o.out, kKind, meta, *model);
  std::error_code ec;
  std::filesystem::remove(train_options.checkpoint, ec);
  return summary;
}

int64_t write_gene_embeddings(const std::string& path, const std::string& out) {
  if (out.empty()) fail("genes: --out is required");
  check_output_directory(out);
  models::LoadedExceiver e = models::load_exceiver(path);
  torch::Tensor w = e.model->gene_embeddings().detach().contiguous();
  const int64_t n = w.size(0), dim = w.size(1);
  const auto& genes = e.vocabulary.genes();
  const float* values = w.data_ptr<float>();
  if (out.size() > 5 && out.substr(out.size() - 5) == ".h5ad") {
    // An AnnData with no cells whose var is the vocabulary and varm["X_marrow"] the embeddings.
    AnnData table;
    table.X.rows = 0;
    table.X.cols = n;
    table.var.index = genes;
    io::H5adAdditions additions;
    additions.varm["X_marrow"] = DenseMatrix{n, dim, std::vector<float>(values, values + n * dim)};
    additions.uns["marrow_genes"] = {{"model", path}};
    io::write_h5ad(out, table, additions);
    return n;
  }
  std::string text = "gene";
  for (int64_t d = 0; d < dim; ++d) text += fmt::format("\tdim{}", d);
  text += "\n";
  for (int64_t g = 0; g < n; ++g) {
    text += genes[g];
    for (int64_t d = 0; d < dim; ++d) text += fmt::format("\t{:.6g}", values[g * dim + d]);
    text += "\n";
  }
  write_file_atomic(out, text);
  return n;
}

nlohmann::json marker_neighbourhoods(const MarkerOptions& o) {
  if (o.label.empty()) fail("genes --markers-from: --label is required");
  if (o.top < 2 || o.neighbours < 1) fail("genes: --top must be at least 2 and --neighbours at least 1");
  models::LoadedExceiver e = models::load_exceiver(o.model);
  AnnData data = load_cells(o.data);
  Parts parts = resolve_parts(data.obs, o.split, o.data.path);
  std::vector<int64_t> rows = parts.train;
  rows.insert(rows.end(), parts.validation.begin(), parts.validation.end());
  std::sort(rows.begin(), rows.end());
  AnnData train = data.select_cells(rows);
  const Column& labels = train.obs.require(o.label);
  std::vector<std::string> classes;
  for (const auto& [value, count] : labels.value_counts())
    if (count >= 2) classes.push_back(value);
  if (classes.size() < 2) fail("{}: '{}' needs at least 2 classes with 2 or more cells", o.data.path, o.label);
  preprocess::TokenCells cells = e.tokenize(train);
  const int64_t n = cells.n_cells(), k = static_cast<int64_t>(classes.size());
  std::vector<int> cls(static_cast<size_t>(n), -1);
  for (int64_t i = 0; i < n; ++i) {
    auto it = std::find(classes.begin(), classes.end(), labels.text(i));
    if (!labels.is_missing(i) && it != classes.end()) cls[i] = static_cast<int>(it - classes.begin());
  }
  // Each class's top genes by Welch t against the rest; a gene shared by several goes to its best class.
  std::vector<std::vector<preprocess::RankedGene>> ranked = preprocess::rank_markers(cells.values, cls, static_cast<int>(k));
  const size_t m = static_cast<size_t>(e.vocabulary.size());
  std::vector<int> marker_class(m, -1);
  std::vector<double> marker_t(m, 0.0);
  for (int64_t c = 0; c < k; ++c)
    for (size_t i = 0; i < std::min<size_t>(ranked[c].size(), static_cast<size_t>(o.top)); ++i) {
      const auto& r = ranked[c][i];
      if (r.t > marker_t[r.column]) marker_t[r.column] = r.t, marker_class[r.column] = static_cast<int>(c);
    }
  std::vector<int64_t> marker_genes;
  std::vector<int> marker_type;
  for (size_t g = 0; g < m; ++g)
    if (marker_class[g] >= 0) marker_genes.push_back(static_cast<int64_t>(g)), marker_type.push_back(marker_class[g]);
  const int64_t markers = static_cast<int64_t>(marker_genes.size());
  if (markers <= o.neighbours) fail("{}: only {} marker genes; lower --neighbours", o.data.path, markers);

  torch::NoGradGuard no_grad;
  torch::Tensor w = e.model->gene_embeddings().detach().index_select(0, torch::tensor(marker_genes, torch::kLong));
  w = w / w.norm(2, 1, true).clamp_min(1e-12);
  torch::Tensor similarity = torch::mm(w, w.t());
  similarity.fill_diagonal_(-2.0);
  torch::Tensor nearest = std::get<1>(similarity.topk(o.neighbours, 1)).contiguous();
  auto na = nearest.accessor<int64_t, 2>();
  auto agreement = [&](const std::vector<int>& type, std::vector<double>* per_class) {
    double all = 0;
    std::vector<double> class_sum(static_cast<size_t>(k), 0.0), class_n(static_cast<size_t>(k), 0.0);
    for (int64_t i = 0; i < markers; ++i) {
      double same = 0;
      for (int64_t j = 0; j < o.neighbours; ++j) same += type[na[i][j]] == type[i];
      same /= static_cast<double>(o.neighbours);
      all += same, class_sum[type[i]] += same, class_n[type[i]] += 1;
    }
    if (per_class)
      for (int64_t c = 0; c < k; ++c) per_class->push_back(class_n[c] > 0 ? class_sum[c] / class_n[c] : NAN);
    return all / static_cast<double>(markers);
  };
  std::vector<double> per_class;
  double observed = agreement(marker_type, &per_class);
  Rng rng(o.split.seed + 99);
  std::vector<int> shuffled = marker_type;
  double random_sum = 0, random_sq = 0;
  int64_t above = 0;
  for (int64_t s = 0; s < o.shuffles; ++s) {
    shuffle(shuffled, rng);
    double a = agreement(shuffled, nullptr);
    random_sum += a, random_sq += a * a, above += a >= observed;
  }
  double random_mean = random_sum / static_cast<double>(o.shuffles);
  double random_sd = std::sqrt(std::max(random_sq / static_cast<double>(o.shuffles) - random_mean * random_mean, 0.0));
  nlohmann::json classes_json = nlohmann::json::object();
  for (int64_t c = 0; c < k; ++c) {
    int64_t count = std::count(marker_type.begin(), marker_type.end(), static_cast<int>(c));
    std::vector<std::string> examples;
    for (size_t i = 0; i < ranked[c].size() && examples.size() < 5; ++i)
      if (marker_class[ranked[c][i].column] == c) examples.push_back(e.vocabulary.genes()[ranked[c][i].column]);
    classes_json[classes[c]] = {{"markers", count}, {"same_type_fraction", per_class[c]}, {"top_markers", examples}};
  }
  return {{"markers", markers},
          {"neighbours", o.neighbours},
          {"same_type_fraction", observed},
          {"random_same_type_fraction", random_mean},
          {"random_sd", random_sd},
          {"shuffles", o.shuffles},
          {"shuffles_at_or_above", above},
          {"cells", n},
          {"classes", classes_json}};
}

nlohmann::json impute(const ImputeOptions& o) {
  if (o.mask_fraction <= 0 || o.mask_fraction >= 1) fail("--mask-fraction must be in (0, 1), got {}", o.mask_fraction);
  models::LoadedExceiver e = models::load_exceiver(o.model);
  AnnData data = load_split_part(o.data, o.split_file, o.part);
  if (o.max_cells > 0) data = data.select_cells(sample_indices(data.n_cells(), o.max_cells, o.seed + 1));
  AlignOptions align;
  align.case_insensitive = o.case_insensitive;
  preprocess::TokenCells cells = e.tokenize(data, align);
  const int64_t n = cells.n_cells();

  // The same masked entries for the model and both baselines.
  models::MaskingOptions masking = e.masking;
  masking.mask_fraction = o.mask_fraction;
  masking.unexpressed_ratio = 0;
  Rng rng(o.seed);
  std::vector<models::CellExample> examples;
  for (int64_t r = 0; r < n; ++r) examples.push_back(models::make_example(cells, r, masking, rng));

  // Model predictions, on the log-normalised scale.
  std::vector<double> truth, predicted, gene_mean_pred, knn_pred;
  std::vector<std::pair<int64_t, int32_t>> entries;  // (cell, vocabulary gene) of each masked value
  torch::NoGradGuard no_grad;
  const bool counts = count_loss(e.model->options());
  for (int64_t start = 0; start < n; start += 256) {
    std::vector<models::CellExample> batch(examples.begin() + start, examples.begin() + std::min(n, start + 256));
    models::TokenBatch b = models::to_batch(batch, false);
    torch::Tensor p = e.model->decode(e.model->encode(b), b.query_genes);
    if (counts) p = torch::log1p(torch::exp(p) * e.target_sum);  // expected share of the library, normalised
    auto pa = p.accessor<float, 2>();
    for (size_t i = 0; i < batch.size(); ++i)
      for (size_t k = 0; k < batch[i].query_genes.size(); ++k) {
        truth.push_back(batch[i].query_values[k]);
        predicted.push_back(pa[static_cast<int64_t>(i)][static_cast<int64_t>(k)]);
        entries.emplace_back(start + static_cast<int64_t>(i), batch[i].query_genes[k]);
      }
  }
  if (entries.empty()) fail("{}: no expressed genes to mask in the selected cells", o.data.path);
  auto mean_a = e.model->gene_mean.accessor<float, 1>();
  auto expressed_a = e.model->gene_mean_expressed.accessor<float, 1>();
  std::vector<double> expressed_mean_pred;
  for (const auto& [cell, gene] : entries) {
    gene_mean_pred.push_back(mean_a[gene]);
    expressed_mean_pred.push_back(expressed_a[gene]);
  }

  // kNN baseline: the cells' visible values (masked entries removed) over the genes they measure,
  // PCA (50 components), and for each masked entry the mean over the 15 nearest cells that show it.
  std::vector<int32_t> columns;  // vocabulary genes with any value in these cells
  std::vector<int32_t> column_of(static_cast<size_t>(e.vocabulary.size()), -1);
  for (int32_t g : cells.values.indices)
    if (column_of[g] < 0) column_of[g] = 0;
  for (int32_t g = 0; g < static_cast<int32_t>(column_of.size()); ++g)
    if (column_of[g] == 0) {
      column_of[g] = static_cast<int32_t>(columns.size());
      columns.push_back(g);
    }
  const int64_t m = static_cast<int64_t>(columns.size());
  torch::Tensor visible = torch::zeros({n, m}), hidden = torch::zeros({n, m}, torch::kBool);
  {
    auto va = visible.accessor<float, 2>();
    auto ha = hidden.accessor<bool, 2>();
    for (int64_t r = 0; r < n; ++r)
      for (int64_t k = cells.values.indptr[r]; k < cells.values.indptr[r + 1]; ++k) va[r][column_of[cells.values.indices[k]]] = cells.values.data[k];
    for (int64_t r = 0; r < n; ++r)
      for (size_t k = 0; k < examples[r].query_genes.size(); ++k) {
        int32_t c = column_of[examples[r].query_genes[k]];
        va[r][c] = 0.0f;
        ha[r][c] = true;
      }
  }
  const int64_t k_neighbours = std::min<int64_t>(o.neighbours, n - 1);
  if (k_neighbours >= 1) {
    models::PcaProjection pca(m, std::min<int64_t>({50, n - 1, m}));
    pca->fit(visible, o.seed);
    torch::Tensor z = pca->forward(visible);
    torch::Tensor d = torch::cdist(z, z);
    d.fill_diagonal_(std::numeric_limits<float>::infinity());
    torch::Tensor nearest = std::get<1>(d.topk(k_neighbours, 1, false));
    auto na = nearest.accessor<int64_t, 2>();
    auto va = visible.accessor<float, 2>();
    auto ha = hidden.accessor<bool, 2>();
    for (size_t i = 0; i < entries.size(); ++i) {
      auto [cell, gene] = entries[i];
      int32_t c = column_of[gene];
      double sum = 0;
      int shown = 0;
      for (int64_t j = 0; j < k_neighbours; ++j) {
        int64_t other = na[cell][j];
        if (ha[other][c]) continue;
        sum += va[other][c];
        ++shown;
      }
      knn_pred.push_back(shown > 0 ? sum / shown : gene_mean_pred[i]);
    }
  } else {
    knn_pred = gene_mean_pred;
  }

  nlohmann::json comparison;
  if (!o.compare.empty()) {
    std::vector<std::vector<std::string>> masked(static_cast<size_t>(n));
    for (int64_t r = 0; r < n; ++r)
      for (int32_t g : examples[r].query_genes) masked[r].push_back(e.vocabulary.genes()[g]);
    std::vector<std::vector<double>> ae =
        models::load_encoder(o.compare)->impute_masked(data, masked, cells.library, e.target_sum);
    std::vector<double> ae_pred;
    int64_t covered = 0;
    for (int64_t r = 0; r < n; ++r)
      for (size_t k = 0; k < ae[r].size(); ++k) {
        bool known = std::isfinite(ae[r][k]);
        covered += known;
        ae_pred.push_back(known ? ae[r][k] : gene_mean_pred[ae_pred.size()]);  // unknown genes: the gene mean
      }
    comparison = {{"model", o.compare}, {"covered", covered}, {"predictions", ae_pred}};
  }

  auto mse = [&](const std::vector<double>& p) {
    double s = 0;
    for (size_t i = 0; i < p.size(); ++i) s += (p[i] - truth[i]) * (p[i] - truth[i]);
    return s / static_cast<double>(p.size());
  };
  auto pearson = [&](const std::vector<double>& p) {
    double mp = 0, mt = 0;
    for (size_t i = 0; i < p.size(); ++i) mp += p[i], mt += truth[i];
    mp /= static_cast<double>(p.size()), mt /= static_cast<double>(p.size());
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      sxy += (p[i] - mp) * (truth[i] - mt), sxx += (p[i] - mp) * (p[i] - mp), syy += (truth[i] - mt) * (truth[i] - mt);
    }
    return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : 0.0;
  };
  nlohmann::json result = {{"n_cells", n},
          {"n_masked", static_cast<int64_t>(entries.size())},
          {"mse", mse(predicted)},
          {"pearson", pearson(predicted)},
          {"baseline_gene_mean_mse", mse(gene_mean_pred)},
          {"baseline_gene_mean_pearson", pearson(gene_mean_pred)},
          {"baseline_knn_mse", mse(knn_pred)},
          {"baseline_gene_mean_expressed_mse", mse(expressed_mean_pred)},
          {"baseline_gene_mean_expressed_pearson", pearson(expressed_mean_pred)},
          {"baseline_knn_pearson", pearson(knn_pred)},
          {"mask_fraction", o.mask_fraction},
          {"seed", o.seed},
          {"model", o.model}};
  if (!comparison.is_null()) {
    std::vector<double> p = comparison["predictions"].get<std::vector<double>>();
    result["autoencoder"] = {{"model", o.compare},
                             {"mse", mse(p)},
                             {"pearson", pearson(p)},
                             {"masked_values_it_knows", comparison["covered"]}};
  }
  return result;
}

}  // namespace marrow::workflow
