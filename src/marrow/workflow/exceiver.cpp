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
#include "marrow/eval/metrics.hpp"
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

// One pass over the training chunks for the gene value means (each rank its own chunks, summed
// over ranks).
template <typename Tokenize>
std::pair<torch::Tensor, torch::Tensor> streamed_value_means(StreamedTraining& stream, const Tokenize& tokens_of, int64_t n_vocab) {
  models::GeneValueSums sums(n_vocab);
  for (size_t k : stream.own_train_chunks()) {
    const auto& positions = stream.train().chunks().positions[k];
    sums.add(tokens_of(stream.train().read_positions(positions), stream.train().file_rows(positions)));
  }
  if (const auto& sum = stream.sum_over_ranks()) {
    sum(sums.sum);
    sum(sums.cells);
    sum(sums.expressing);
  }
  return sums.means();
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

  corpus.value_means = streamed_value_means(*stream, tokens_of, n_vocab);
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

namespace {

// Marker genes of each class, by Welch t against the other classes; a gene among several classes'
// top `top` goes to the class where its t is highest.
struct MarkerGenes {
  std::vector<std::vector<preprocess::RankedGene>> ranked;  // per class, every gene by t
  std::vector<int> class_of_gene;                           // per vocabulary gene: its class or -1
  std::vector<int64_t> genes;                               // the marker genes (vocabulary order)
  std::vector<int> type;                                    // and their classes
};

MarkerGenes marker_genes(const preprocess::TokenCells& cells, const Column& labels, const std::vector<std::string>& classes,
                         int64_t vocabulary_size, int64_t top) {
  const int64_t k = static_cast<int64_t>(classes.size());
  std::vector<int> cls(static_cast<size_t>(cells.n_cells()), -1);
  for (int64_t i = 0; i < cells.n_cells(); ++i) {
    auto it = std::find(classes.begin(), classes.end(), labels.text(i));
    if (!labels.is_missing(i) && it != classes.end()) cls[i] = static_cast<int>(it - classes.begin());
  }
  MarkerGenes m;
  m.ranked = preprocess::rank_markers(cells.values, cls, static_cast<int>(k));
  m.class_of_gene.assign(static_cast<size_t>(vocabulary_size), -1);
  std::vector<double> best_t(static_cast<size_t>(vocabulary_size), 0.0);
  for (int64_t c = 0; c < k; ++c)
    for (size_t i = 0; i < std::min<size_t>(m.ranked[c].size(), static_cast<size_t>(top)); ++i) {
      const auto& r = m.ranked[c][i];
      if (r.t > best_t[r.column]) best_t[r.column] = r.t, m.class_of_gene[r.column] = static_cast<int>(c);
    }
  for (size_t g = 0; g < m.class_of_gene.size(); ++g)
    if (m.class_of_gene[g] >= 0) m.genes.push_back(static_cast<int64_t>(g)), m.type.push_back(m.class_of_gene[g]);
  return m;
}

// Each marker's `neighbours` nearest other markers by cosine similarity of their gene embeddings.
std::vector<std::vector<int64_t>> nearest_markers(const models::LoadedExceiver& e, const std::vector<int64_t>& markers, int64_t neighbours) {
  torch::NoGradGuard no_grad;
  torch::Tensor w = e.model->gene_embeddings().detach().index_select(0, torch::tensor(markers, torch::kLong));
  w = w / w.norm(2, 1, true).clamp_min(1e-12);
  torch::Tensor similarity = torch::mm(w, w.t());
  similarity.fill_diagonal_(-2.0);
  torch::Tensor nearest = std::get<1>(similarity.topk(neighbours, 1)).contiguous();
  auto na = nearest.accessor<int64_t, 2>();
  std::vector<std::vector<int64_t>> out(markers.size());
  for (size_t i = 0; i < markers.size(); ++i)
    for (int64_t j = 0; j < neighbours; ++j) out[i].push_back(na[static_cast<int64_t>(i)][j]);
  return out;
}

// The share of each marker's neighbours that mark the same class, over all markers and (where
// per_class is given) per class.
double same_type_fraction(const std::vector<std::vector<int64_t>>& nearest, const std::vector<int>& type, int64_t classes,
                          std::vector<double>* per_class) {
  double all = 0;
  std::vector<double> class_sum(static_cast<size_t>(classes), 0.0), class_n(static_cast<size_t>(classes), 0.0);
  for (size_t i = 0; i < nearest.size(); ++i) {
    double same = 0;
    for (int64_t j : nearest[i]) same += type[j] == type[i];
    same /= static_cast<double>(nearest[i].size());
    all += same, class_sum[type[i]] += same, class_n[type[i]] += 1;
  }
  if (per_class)
    for (int64_t c = 0; c < classes; ++c) per_class->push_back(class_n[c] > 0 ? class_sum[c] / class_n[c] : NAN);
  return all / static_cast<double>(nearest.size());
}

// The same fraction under shuffled marker classes: its mean, SD and how often it reached `observed`.
struct ShuffledAgreement {
  double mean = 0, sd = 0;
  int64_t at_or_above = 0;
};

ShuffledAgreement shuffled_agreement(const std::vector<std::vector<int64_t>>& nearest, std::vector<int> type, int64_t classes,
                                     double observed, int64_t shuffles, uint64_t seed) {
  Rng rng(seed);
  double sum = 0, squares = 0;
  ShuffledAgreement r;
  for (int64_t s = 0; s < shuffles; ++s) {
    shuffle(type, rng);
    const double a = same_type_fraction(nearest, type, classes, nullptr);
    sum += a, squares += a * a, r.at_or_above += a >= observed;
  }
  r.mean = sum / static_cast<double>(shuffles);
  r.sd = std::sqrt(std::max(squares / static_cast<double>(shuffles) - r.mean * r.mean, 0.0));
  return r;
}

// Classes with at least two labelled cells, in value-count order.
std::vector<std::string> marker_classes(const Column& labels, const std::string& source, const std::string& label) {
  std::vector<std::string> classes;
  for (const auto& [value, count] : labels.value_counts())
    if (count >= 2) classes.push_back(value);
  if (classes.size() < 2) fail("{}: '{}' needs at least 2 classes with 2 or more cells", source, label);
  return classes;
}

}  // namespace

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
  const std::vector<std::string> classes = marker_classes(labels, o.data.path, o.label);
  const int64_t k = static_cast<int64_t>(classes.size());
  const preprocess::TokenCells cells = e.tokenize(train);
  const MarkerGenes markers = marker_genes(cells, labels, classes, e.vocabulary.size(), o.top);
  const int64_t n_markers = static_cast<int64_t>(markers.genes.size());
  if (n_markers <= o.neighbours) fail("{}: only {} marker genes; lower --neighbours", o.data.path, n_markers);
  const auto nearest = nearest_markers(e, markers.genes, o.neighbours);
  std::vector<double> per_class;
  const double observed = same_type_fraction(nearest, markers.type, k, &per_class);
  const ShuffledAgreement random = shuffled_agreement(nearest, markers.type, k, observed, o.shuffles, o.split.seed + 99);
  nlohmann::json classes_json = nlohmann::json::object();
  for (int64_t c = 0; c < k; ++c) {
    const int64_t count = std::count(markers.type.begin(), markers.type.end(), static_cast<int>(c));
    std::vector<std::string> examples;
    for (size_t i = 0; i < markers.ranked[c].size() && examples.size() < 5; ++i)
      if (markers.class_of_gene[markers.ranked[c][i].column] == c) examples.push_back(e.vocabulary.genes()[markers.ranked[c][i].column]);
    classes_json[classes[c]] = {{"markers", count}, {"same_type_fraction", per_class[c]}, {"top_markers", examples}};
  }
  return {{"markers", n_markers},          {"neighbours", o.neighbours},   {"same_type_fraction", observed},
          {"random_same_type_fraction", random.mean}, {"random_sd", random.sd}, {"shuffles", o.shuffles},
          {"shuffles_at_or_above", random.at_or_above}, {"cells", cells.n_cells()}, {"classes", classes_json}};
}

namespace {

// The cells' expressed values hidden for imputation: per cell the example the model sees, and over
// all cells, in example order, each hidden entry (cell, vocabulary gene) and its true value.
struct MaskedValues {
  std::vector<models::CellExample> examples;
  std::vector<std::pair<int64_t, int32_t>> entries;
  std::vector<double> truth;
};

MaskedValues mask_expressed_values(const preprocess::TokenCells& cells, models::MaskingOptions masking, double fraction, uint64_t seed) {
  masking.mask_fraction = fraction;
  masking.unexpressed_ratio = 0;  // only measured values can be scored
  Rng rng(seed);
  MaskedValues m;
  for (int64_t r = 0; r < cells.n_cells(); ++r) {
    m.examples.push_back(models::make_example(cells, r, masking, rng));
    const models::CellExample& e = m.examples.back();
    for (size_t k = 0; k < e.query_genes.size(); ++k) {
      m.entries.emplace_back(r, e.query_genes[k]);
      m.truth.push_back(e.query_values[k]);
    }
  }
  return m;
}

// The gene model's prediction of each hidden value, on the log-normalised scale.
std::vector<double> gene_model_predictions(models::LoadedExceiver& e, const MaskedValues& m) {
  torch::NoGradGuard no_grad;
  const bool counts = count_loss(e.model->options());
  const int64_t n = static_cast<int64_t>(m.examples.size());
  std::vector<double> predicted;
  for (int64_t start = 0; start < n; start += 256) {
    std::vector<models::CellExample> batch(m.examples.begin() + start, m.examples.begin() + std::min(n, start + 256));
    models::TokenBatch b = models::to_batch(batch, false);
    torch::Tensor p = e.model->decode(e.model->encode(b), b.query_genes);
    if (counts) p = torch::log1p(torch::exp(p) * e.target_sum);  // expected share of the library, normalised
    auto pa = p.accessor<float, 2>();
    for (size_t i = 0; i < batch.size(); ++i)
      for (size_t k = 0; k < batch[i].query_genes.size(); ++k) predicted.push_back(pa[static_cast<int64_t>(i)][static_cast<int64_t>(k)]);
  }
  return predicted;
}

// Each hidden entry's gene mean from the model's training cells (over all cells, or over the cells
// expressing the gene).
std::vector<double> gene_mean_predictions(const torch::Tensor& gene_mean, const MaskedValues& m) {
  auto mean_a = gene_mean.accessor<float, 1>();
  std::vector<double> predicted;
  for (const auto& entry : m.entries) predicted.push_back(mean_a[entry.second]);
  return predicted;
}

// The kNN baseline: the cells' visible values (hidden entries zeroed) over the genes they measure,
// PCA (50 components), and for each hidden entry the mean over the nearest cells that show it; the
// fallback where none does.
std::vector<double> knn_predictions(const preprocess::TokenCells& cells, int64_t n_vocabulary, const MaskedValues& m,
                                    int64_t neighbours, uint64_t seed, const std::vector<double>& fallback) {
  const int64_t n = cells.n_cells();
  const int64_t k_neighbours = std::min<int64_t>(neighbours, n - 1);
  if (k_neighbours < 1) return fallback;
  std::vector<int32_t> columns;  // vocabulary genes with any value in these cells
  std::vector<int32_t> column_of(static_cast<size_t>(n_vocabulary), -1);
  for (int32_t g : cells.values.indices) column_of[g] = 0;
  for (int32_t g = 0; g < static_cast<int32_t>(column_of.size()); ++g)
    if (column_of[g] == 0) {
      column_of[g] = static_cast<int32_t>(columns.size());
      columns.push_back(g);
    }
  const int64_t width = static_cast<int64_t>(columns.size());
  torch::Tensor visible = torch::zeros({n, width}), hidden = torch::zeros({n, width}, torch::kBool);
  auto va = visible.accessor<float, 2>();
  auto ha = hidden.accessor<bool, 2>();
  for (int64_t r = 0; r < n; ++r)
    for (int64_t k = cells.values.indptr[r]; k < cells.values.indptr[r + 1]; ++k) va[r][column_of[cells.values.indices[k]]] = cells.values.data[k];
  for (const auto& [cell, gene] : m.entries) {
    va[cell][column_of[gene]] = 0.0f;
    ha[cell][column_of[gene]] = true;
  }
  models::PcaProjection pca(width, std::min<int64_t>({50, n - 1, width}));
  pca->fit(visible, seed);
  torch::Tensor z = pca->forward(visible);
  torch::Tensor d = torch::cdist(z, z);
  d.fill_diagonal_(std::numeric_limits<float>::infinity());
  torch::Tensor nearest = std::get<1>(d.topk(k_neighbours, 1, false));
  auto na = nearest.accessor<int64_t, 2>();
  std::vector<double> predicted;
  for (size_t i = 0; i < m.entries.size(); ++i) {
    auto [cell, gene] = m.entries[i];
    const int32_t c = column_of[gene];
    double sum = 0;
    int shown = 0;
    for (int64_t j = 0; j < k_neighbours; ++j) {
      const int64_t other = na[cell][j];
      if (ha[other][c]) continue;
      sum += va[other][c];
      ++shown;
    }
    predicted.push_back(shown > 0 ? sum / shown : fallback[i]);
  }
  return predicted;
}

// Another model (an autoencoder, through the encoder interface) imputing the same hidden values;
// genes it does not know get the fallback. Returns its predictions and how many values it knew.
std::pair<std::vector<double>, int64_t> encoder_predictions(const std::string& path, const AnnData& data,
                                                            const models::LoadedExceiver& e, const preprocess::TokenCells& cells,
                                                            const MaskedValues& m, const std::vector<double>& fallback) {
  std::vector<std::vector<std::string>> masked(m.examples.size());
  for (size_t r = 0; r < m.examples.size(); ++r)
    for (int32_t g : m.examples[r].query_genes) masked[r].push_back(e.vocabulary.genes()[g]);
  std::vector<std::vector<double>> imputed = models::load_encoder(path)->impute_masked(data, masked, cells.library, e.target_sum);
  std::vector<double> predicted;
  int64_t covered = 0;
  for (const auto& cell : imputed)
    for (double value : cell) {
      const bool known = std::isfinite(value);
      covered += known;
      predicted.push_back(known ? value : fallback[predicted.size()]);
    }
  return {predicted, covered};
}

}  // namespace

nlohmann::json impute(const ImputeOptions& o) {
  if (o.mask_fraction <= 0 || o.mask_fraction >= 1) fail("--mask-fraction must be in (0, 1), got {}", o.mask_fraction);
  const uint64_t seed = o.split.seed;
  models::LoadedExceiver e = models::load_exceiver(o.model);
  AnnData data = load_part(o.data, o.split, o.part);
  if (o.max_cells > 0) data = data.select_cells(sample_indices(data.n_cells(), o.max_cells, seed + 1));
  AlignOptions align;
  align.case_insensitive = o.case_insensitive;
  const preprocess::TokenCells cells = e.tokenize(data, align);
  // The same hidden entries for the model and every baseline.
  const MaskedValues m = mask_expressed_values(cells, e.masking, o.mask_fraction, seed);
  if (m.entries.empty()) fail("{}: no expressed genes to mask in the selected cells", o.data.path);
  const std::vector<double> predicted = gene_model_predictions(e, m);
  const std::vector<double> gene_mean = gene_mean_predictions(e.model->gene_mean, m);
  const std::vector<double> expressed_mean = gene_mean_predictions(e.model->gene_mean_expressed, m);
  const std::vector<double> knn = knn_predictions(cells, e.vocabulary.size(), m, o.neighbours, seed, gene_mean);
  auto mse = [&](const std::vector<double>& p) { return eval::mean_squared_error(p, m.truth); };
  auto pearson = [&](const std::vector<double>& p) { return eval::pearson_correlation(p, m.truth); };
  nlohmann::json result = {{"n_cells", cells.n_cells()},
                            {"n_masked", static_cast<int64_t>(m.entries.size())},
                            {"mse", mse(predicted)},
                            {"pearson", pearson(predicted)},
                            {"baseline_gene_mean_mse", mse(gene_mean)},
                            {"baseline_gene_mean_pearson", pearson(gene_mean)},
                            {"baseline_knn_mse", mse(knn)},
                            {"baseline_gene_mean_expressed_mse", mse(expressed_mean)},
                            {"baseline_gene_mean_expressed_pearson", pearson(expressed_mean)},
                            {"baseline_knn_pearson", pearson(knn)},
                            {"mask_fraction", o.mask_fraction},
                            {"seed", seed},
                            {"model", o.model}};
  if (o.compare.empty()) return result;
  const auto [other, covered] = encoder_predictions(o.compare, data, e, cells, m, gene_mean);
  result["autoencoder"] = {{"model", o.compare}, {"mse", mse(other)}, {"pearson", pearson(other)}, {"masked_values_it_knows", covered}};
  return result;
}

}  // namespace marrow::workflow
