// The masked-expression gene model: padding and masked tokens are truly invisible, examples never
// treat a gene outside the cell's panel as a zero, several panels share one vocabulary, and on
// simulated data pretraining lowers the loss and imputes masked genes better than the baselines.
#include <torch/torch.h>

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "marrow/core/error.hpp"
#include "marrow/io/h5ad_reader.hpp"
#include "marrow/io/h5ad_writer.hpp"
#include "marrow/models/exceiver.hpp"
#include "marrow/models/token_batching.hpp"
#include "marrow/preprocess/gene_tokens.hpp"
#include "marrow/sim/simulator.hpp"
#include "marrow/workflow/autoencoder.hpp"
#include "marrow/workflow/exceiver.hpp"
#include "support.hpp"

namespace marrow {
namespace {

// A cells x genes count matrix with the given gene names, as AnnData.
AnnData counts_matrix(const std::vector<std::vector<float>>& rows, const std::vector<std::string>& genes) {
  AnnData a;
  std::vector<float> dense;
  for (const auto& r : rows) dense.insert(dense.end(), r.begin(), r.end());
  a.X = CsrMatrix::from_dense(static_cast<int64_t>(rows.size()), static_cast<int64_t>(genes.size()), dense.data());
  a.var.index = genes;
  for (size_t i = 0; i < rows.size(); ++i) a.obs.index.push_back("cell" + std::to_string(i));
  a.source = "test";
  return a;
}

models::ExceiverOptions small_model(int64_t genes) {
  models::ExceiverOptions o;
  o.n_genes = genes;
  o.dim = 16;
  o.latents = 8;
  o.heads = 2;
  o.layers = 1;
  return o;
}

// Random cells of different lengths over `genes` genes (one panel: all genes).
preprocess::TokenCells random_cells(int64_t cells, int64_t genes, uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<float>> rows;
  for (int64_t c = 0; c < cells; ++c) {
    std::vector<float> r(static_cast<size_t>(genes), 0.0f);
    int64_t expressed = 3 + static_cast<int64_t>(uniform_index(rng, static_cast<uint64_t>(genes / 2)));
    for (int64_t k = 0; k < expressed; ++k) r[uniform_index(rng, static_cast<uint64_t>(genes))] = 1.0f + static_cast<float>(uniform_index(rng, 20));
    rows.push_back(r);
  }
  std::vector<std::string> names;
  for (int64_t g = 0; g < genes; ++g) names.push_back("G" + std::to_string(g));
  AnnData a = counts_matrix(rows, names);
  return preprocess::tokenize(a, GeneVocabulary(names));
}

TEST(Exceiver, PaddedPositionsChangeNoOutput) {
  torch::manual_seed(0);
  models::Exceiver model(small_model(40));
  model->eval();
  preprocess::TokenCells cells = random_cells(6, 40, 1);
  models::MaskingOptions masking;
  Rng rng(2);
  std::vector<models::CellExample> examples;
  for (int64_t r = 0; r < cells.n_cells(); ++r) examples.push_back(models::make_example(cells, r, masking, rng));
  models::TokenBatch batch = models::to_batch(examples, false);
  ASSERT_TRUE(batch.padding.any().item<bool>()) << "the cells must differ in length for this test";
  torch::NoGradGuard no_grad;
  torch::Tensor before = model->decode(model->encode(batch), batch.query_genes);
  // Garbage in every padded slot: other genes, large values, some marked masked.
  models::TokenBatch changed = batch;
  changed.genes = torch::where(batch.padding, torch::randint(0, 40, batch.genes.sizes(), torch::kInt64), batch.genes);
  changed.values = torch::where(batch.padding, torch::rand(batch.values.sizes()) * 100, batch.values);
  changed.masked = torch::where(batch.padding, torch::rand(batch.values.sizes()) > 0.5, batch.masked);
  torch::Tensor after = model->decode(model->encode(changed), changed.query_genes);
  EXPECT_TRUE(torch::equal(before, after)) << (before - after).abs().max().item<float>();
  // The check has teeth: the same garbage in real positions does change the output.
  models::TokenBatch unpadded = changed;
  unpadded.padding = torch::zeros_like(batch.padding);
  EXPECT_GT((model->decode(model->encode(unpadded), batch.query_genes) - before).abs().max().item<float>(), 1e-4);
}

TEST(Exceiver, MaskedTokensHideGeneAndValue) {
  torch::manual_seed(0);
  models::Exceiver model(small_model(40));
  model->eval();
  preprocess::TokenCells cells = random_cells(4, 40, 3);
  models::MaskingOptions masking;
  masking.mask_fraction = 0.3;
  Rng rng(4);
  std::vector<models::CellExample> examples;
  for (int64_t r = 0; r < cells.n_cells(); ++r) examples.push_back(models::make_example(cells, r, masking, rng));
  models::TokenBatch batch = models::to_batch(examples, false);
  ASSERT_TRUE(batch.masked.any().item<bool>());
  torch::NoGradGuard no_grad;
  torch::Tensor before = model->encode(batch);
  models::TokenBatch changed = batch;
  changed.genes = torch::where(batch.masked, (batch.genes + 7) % 40, batch.genes);
  changed.values = torch::where(batch.masked, batch.values + 3, batch.values);
  EXPECT_TRUE(torch::equal(before, model->encode(changed)));
}

TEST(Exceiver, ExamplesQueryOnlyGenesOfTheCellsPanel) {
  // Two files with different panels over one vocabulary.
  AnnData a = counts_matrix({{5, 0, 1, 0, 2, 0}, {0, 3, 0, 0, 1, 1}}, {"A", "B", "C", "D", "E", "F"});
  AnnData b = counts_matrix({{1, 0, 4, 0}, {0, 2, 0, 7}}, {"C", "X", "Y", "A"});
  GeneVocabulary vocab = preprocess::union_vocabulary({&a, &b});
  ASSERT_EQ(vocab.size(), 8);  // A B C D E F X Y
  preprocess::TokenCells cells = preprocess::tokenize(a, vocab);
  cells.append(preprocess::tokenize(b, vocab));
  ASSERT_EQ(cells.n_cells(), 4);
  ASSERT_EQ(cells.panels.size(), 2u);
  EXPECT_EQ(cells.panels[1], (std::vector<int32_t>{0, 2, 6, 7}));  // A C X Y
  EXPECT_DOUBLE_EQ(cells.library[3], 9.0);
  models::MaskingOptions masking;
  masking.mask_fraction = 0.5;
  masking.unexpressed_ratio = 3;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Rng rng(seed);
    for (int64_t r = 0; r < cells.n_cells(); ++r) {
      models::CellExample e = models::make_example(cells, r, masking, rng);
      const auto& panel = cells.panels[cells.panel_of_cell[r]];
      std::set<int32_t> expressed(cells.values.indices.begin() + cells.values.indptr[r],
                                  cells.values.indices.begin() + cells.values.indptr[r + 1]);
      int masked = 0;
      for (uint8_t m : e.masked) masked += m;
      EXPECT_GE(masked, 1);
      EXPECT_LT(masked, static_cast<int>(e.genes.size()));  // one token always stays visible
      for (size_t k = 0; k < e.query_genes.size(); ++k) {
        int32_t g = e.query_genes[k];
        EXPECT_TRUE(std::binary_search(panel.begin(), panel.end(), g)) << "gene " << g << " is not in the cell's panel";
        if (e.query_masked[k]) EXPECT_TRUE(expressed.count(g));
        else EXPECT_FALSE(expressed.count(g)) << "an expressed gene queried as a zero";
      }
    }
  }
}

TEST(Exceiver, TokenCapKeepsTheMostExpressedGenes) {
  AnnData a = counts_matrix({{1, 9, 3, 7, 5}}, {"A", "B", "C", "D", "E"});
  preprocess::TokenCells cells = preprocess::tokenize(a, GeneVocabulary({"A", "B", "C", "D", "E"}));
  models::MaskingOptions masking;
  masking.max_tokens = 3;
  masking.mask_fraction = 0;
  Rng rng(0);
  models::CellExample e = models::make_example(cells, 0, masking, rng);
  EXPECT_EQ(e.genes, (std::vector<int32_t>{1, 3, 4}));  // B, D, E
  EXPECT_TRUE(e.query_genes.empty());
}

// Pretraining on simulated data: the loss falls and masked genes are imputed better than by the
// gene-mean and kNN baselines; embed and genes write what they should.
TEST(Exceiver, PretrainImputeEmbedGenesOnSimulatedData) {
  test::TempDir dir;
  sim::SimulationOptions so;
  so.cells = 900;
  so.genes = 200;
  so.seed = 5;
  io::write_h5ad(dir / "sim.h5ad", sim::simulate(so));
  workflow::ExceiverPretrainOptions o;
  o.files = {dir / "sim.h5ad"};
  o.split.spec = "random";
  o.split.test_fraction = 0.3;
  o.split.validation_fraction = 0.1;
  o.model.dim = 32;
  o.model.latents = 16;
  o.model.layers = 1;
  o.train.epochs = 12;
  o.train.batch_size = 32;
  o.train.learning_rate = 2e-3;
  o.train.patience = 0;
  o.train.metrics = dir / "m.jsonl";
  o.out = dir / "ex.marrow";
  workflow::ExceiverPretrainSummary s = workflow::pretrain_exceiver(o);
  ASSERT_TRUE(s.completed);
  std::ifstream metrics(dir / "m.jsonl");
  std::vector<double> validation;
  for (std::string line; std::getline(metrics, line);) validation.push_back(nlohmann::json::parse(line)["validation_loss"].get<double>());
  ASSERT_EQ(validation.size(), 12u);
  EXPECT_LT(validation.back(), 0.8 * validation.front());

  workflow::ImputeOptions io;
  io.model = o.out;
  io.data.path = dir / "sim.h5ad";
  nlohmann::json m = workflow::impute(io);
  EXPECT_GT(m["n_masked"].get<int64_t>(), 1000);
  EXPECT_LT(m["mse"].get<double>(), m["baseline_gene_mean_mse"].get<double>()) << m.dump();
  EXPECT_GT(m["pearson"].get<double>(), m["baseline_gene_mean_pearson"].get<double>()) << m.dump();

  workflow::EmbedOptions eo;
  eo.model = o.out;
  eo.data.path = dir / "sim.h5ad";
  eo.out = dir / "emb.h5ad";
  EXPECT_EQ(workflow::embed(eo), 900);
  AnnData embedded = io::read_h5ad(dir / "emb.h5ad");
  ASSERT_TRUE(embedded.obsm.count("X_marrow"));
  EXPECT_EQ(embedded.obsm["X_marrow"].cols, 32);
  EXPECT_EQ(workflow::write_gene_embeddings(o.out, dir / "genes.tsv"), 200);
  std::ifstream genes(dir / "genes.tsv");
  int lines = 0;
  for (std::string line; std::getline(genes, line);) ++lines;
  EXPECT_EQ(lines, 201);
  // A model file of another kind is refused by impute and genes with a clear error.
  EXPECT_THROW(workflow::write_gene_embeddings(dir / "emb.h5ad", dir / "x.tsv"), Error);
}

}  // namespace
}  // namespace marrow
