// Gene-incremental learning: growing the vocabulary keeps old gene rows exactly, a stage's batches
// never hold a gene outside the base genes and its own, the replay buffer keeps its size and
// selection rule, the forgetting and transfer formulas match a hand-made matrix, bad plans are
// refused, and a whole run on simulated data writes its results and stage models.
#include <torch/torch.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "marrow/core/error.hpp"
#include "marrow/core/json_util.hpp"
#include "marrow/eval/linear_probe.hpp"
#include "marrow/gil/metrics.hpp"
#include "marrow/gil/plan.hpp"
#include "marrow/gil/replay.hpp"
#include "marrow/io/h5ad_writer.hpp"
#include "marrow/models/exceiver.hpp"
#include "marrow/models/model_file.hpp"
#include "marrow/models/token_batching.hpp"
#include "marrow/preprocess/gene_tokens.hpp"
#include "marrow/sim/simulator.hpp"
#include "marrow/workflow/gil.hpp"
#include "support.hpp"

namespace marrow {
namespace {

AnnData simulated(int64_t cells, int64_t genes, uint64_t seed = 3) {
  sim::SimulationOptions s;
  s.cells = cells;
  s.genes = genes;
  s.seed = seed;
  return sim::simulate(s);
}

TEST(GilExpansion, OldGeneRowsStayByteIdenticalAndNewRowsAreAppended) {
  models::ExceiverOptions o;
  o.n_genes = 50;
  o.dim = 16;
  o.heads = 2;
  o.latents = 8;
  torch::manual_seed(0);
  models::Exceiver model(o);
  torch::Tensor before = model->gene_embeddings().detach().clone();
  torch::Tensor means_before = model->gene_mean.clone();
  torch::Tensor rows = torch::randn({7, 16});
  model->grow_vocabulary(rows, torch::ones({7}), torch::full({7}, 2.0));
  torch::Tensor after = model->gene_embeddings().detach();
  ASSERT_EQ(after.size(0), 57);
  EXPECT_EQ(model->options().n_genes, 57);
  EXPECT_EQ(std::memcmp(after.data_ptr<float>(), before.data_ptr<float>(), sizeof(float) * 50 * 16), 0);
  EXPECT_TRUE(torch::equal(after.narrow(0, 50, 7), rows));
  EXPECT_TRUE(torch::equal(model->gene_mean.narrow(0, 0, 50), means_before));
  EXPECT_FLOAT_EQ(model->gene_mean[55].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(model->gene_mean_expressed[55].item<float>(), 2.0f);
  // The grown table is the registered parameter: an optimizer and a saved model see every row.
  bool found = false;
  for (const auto& p : model->named_parameters())
    if (p.key() == "gene_embedding.weight") found = p.value().size(0) == 57;
  EXPECT_TRUE(found);
  // The new genes can be queried.
  models::TokenBatch b;
  b.genes = torch::tensor({{1, 2, 55}}, torch::kInt64);
  b.values = torch::ones({1, 3});
  b.masked = torch::zeros({1, 3}, torch::kBool);
  b.padding = torch::zeros({1, 3}, torch::kBool);
  torch::Tensor p = model->decode(model->encode(b), torch::tensor({{56, 3}}, torch::kInt64));
  EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
  EXPECT_THROW(model->grow_vocabulary(torch::randn({2, 8}), torch::ones({2}), torch::ones({2})), Error);
}

TEST(GilStages, BatchesOfAStageHoldOnlyBaseAndStageGenes) {
  AnnData data = simulated(200, 120);
  preprocess::TokenCells cells = preprocess::tokenize(data, GeneVocabulary(data.gene_names()));
  // Base genes 0..59, stage genes 90..119; 60..89 belong to another stage.
  std::vector<uint8_t> allowed(120, 0);
  for (int g = 0; g < 60; ++g) allowed[g] = 1;
  for (int g = 90; g < 120; ++g) allowed[g] = 1;
  preprocess::TokenCells stage = cells.restrict_genes(allowed);
  stage = stage.select_cells(stage.rows_with_tokens());
  ASSERT_GT(stage.n_cells(), 150);
  models::MaskingOptions masking;
  masking.unexpressed_ratio = 3;  // many unexpressed queries: they too must come from the stage's genes
  Rng rng(1);
  std::vector<models::CellExample> examples;
  for (int64_t r = 0; r < stage.n_cells(); ++r) examples.push_back(models::make_example(stage, r, masking, rng));
  models::TokenBatch b = models::to_batch(examples, false);
  auto check = [&](const torch::Tensor& genes, const torch::Tensor& padding) {
    auto g = genes.accessor<int64_t, 2>();
    auto p = padding.accessor<bool, 2>();
    int64_t real = 0;
    for (int64_t i = 0; i < genes.size(0); ++i)
      for (int64_t k = 0; k < genes.size(1); ++k)
        if (!p[i][k]) {
          ++real;
          EXPECT_TRUE(allowed[g[i][k]]) << "gene " << g[i][k] << " outside the stage";
        }
    return real;
  };
  EXPECT_GT(check(b.genes, b.padding), 1000);
  EXPECT_GT(check(b.query_genes, b.query_padding), 100);
  // Restricting keeps the values of the kept genes unchanged.
  for (int64_t r = 0; r < 5; ++r)
    for (int64_t k = stage.values.indptr[r]; k < stage.values.indptr[r + 1]; ++k) EXPECT_TRUE(allowed[stage.values.indices[k]]);
}

TEST(GilStages, MaskableGenesLimitWhatIsMaskedAndQueried) {
  AnnData data = simulated(100, 120);
  preprocess::TokenCells cells = preprocess::tokenize(data, GeneVocabulary(data.gene_names()));
  std::vector<uint8_t> set(120, 0);
  for (int g = 0; g < 120; g += 5) set[g] = 1;
  models::MaskingOptions masking;
  masking.mask_fraction = 0.5;
  masking.unexpressed_ratio = 1;
  Rng rng(2);
  int64_t queried = 0;
  for (int64_t r = 0; r < cells.n_cells(); ++r) {
    models::CellExample e = models::make_example(cells, r, masking, rng, &set);
    for (size_t k = 0; k < e.genes.size(); ++k)
      if (e.masked[k]) EXPECT_TRUE(set[e.genes[k]]);
    for (int32_t g : e.query_genes) {
      EXPECT_TRUE(set[g]);
      ++queried;
    }
  }
  EXPECT_GT(queried, 50);
}

TEST(GilProbe, LinearProbeSeparatesBlobsAndNotNoise) {
  torch::manual_seed(0);
  std::vector<int> y_train, y_test;
  for (int i = 0; i < 300; ++i) y_train.push_back(i % 3), y_test.push_back((i + 1) % 3);
  torch::Tensor centres = torch::randn({3, 8}) * 3;
  auto blobs = [&](const std::vector<int>& y) {
    torch::Tensor idx = torch::tensor(std::vector<int64_t>(y.begin(), y.end()), torch::kInt64);
    return centres.index_select(0, idx) + torch::randn({static_cast<int64_t>(y.size()), 8});
  };
  eval::ProbeResult r = eval::linear_probe(blobs(y_train), y_train, blobs(y_test), y_test, 3);
  EXPECT_GT(r.accuracy, 0.95);
  eval::ProbeResult noise = eval::linear_probe(torch::randn({300, 8}), y_train, torch::randn({300, 8}), y_test, 3);
  EXPECT_LT(noise.accuracy, 0.5);
}

TEST(GilReplay, BufferKeepsItsSizeAndSelectionRule) {
  // Reservoir: never above capacity, a uniform sample of everything seen.
  gil::ReplayBuffer reservoir(100, gil::ReplaySelection::Reservoir, 1);
  reservoir.add_stage(0, 1000);
  EXPECT_EQ(reservoir.items().size(), 100u);
  reservoir.add_stage(1, 1000);
  EXPECT_EQ(reservoir.items().size(), 100u);
  int from_1 = 0;
  for (const auto& item : reservoir.items()) from_1 += item.stage == 1;
  EXPECT_GT(from_1, 30);
  EXPECT_LT(from_1, 70);
  // A small first stage fills the buffer only as far as it can.
  gil::ReplayBuffer small(100, gil::ReplaySelection::Reservoir, 1);
  small.add_stage(0, 40);
  EXPECT_EQ(small.items().size(), 40u);

  // Random (stage-balanced): equal shares per finished stage, no duplicates, valid rows.
  gil::ReplayBuffer random(90, gil::ReplaySelection::Random, 2);
  random.add_stage(0, 500);
  random.add_stage(1, 80);
  random.add_stage(2, 500);
  std::map<int, int> per_stage;
  std::set<std::pair<int, int64_t>> unique;
  for (const auto& item : random.items()) {
    ++per_stage[item.stage];
    unique.insert({item.stage, item.row});
    EXPECT_LT(item.row, item.stage == 1 ? 80 : 500);
  }
  EXPECT_EQ(random.items().size(), 90u);
  EXPECT_EQ(unique.size(), 90u);
  EXPECT_EQ(per_stage[0], 30);
  EXPECT_EQ(per_stage[1], 30);
  EXPECT_EQ(per_stage[2], 30);

  // Class-balanced: equal shares per class; a small class gives its spare slots to the others.
  gil::ReplayBuffer balanced(60, gil::ReplaySelection::ClassBalanced, 3);
  std::vector<int> labels(600);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = i < 500 ? 0 : (i < 590 ? 1 : 2);  // 500 / 90 / 10 cells
  balanced.add_stage(0, 600, labels);
  std::map<int, int> per_class;
  for (const auto& item : balanced.items()) ++per_class[item.label];
  EXPECT_EQ(balanced.items().size(), 60u);
  EXPECT_EQ(per_class[2], 10);
  EXPECT_EQ(per_class[0], 25);
  EXPECT_EQ(per_class[1], 25);
  EXPECT_THROW(balanced.add_stage(1, 10), Error);  // class_balanced needs labels
  EXPECT_THROW(parse_enum<gil::ReplaySelection>("fifo"), Error);
}

TEST(GilMetrics, ForgettingAndTransferOnAHandMadeMatrix) {
  const double nan = NAN;
  // Sets: base (stage 0), T1 (stage 1), T2 (stage 2).
  gil::Matrix mse = {{1.0, nan, nan}, {1.2, 0.8, nan}, {1.5, 1.1, 0.6}};
  gil::ForgettingSummary s = gil::summarise(mse, {0, 1, 2}, {nan, 0.9, 0.5});
  EXPECT_DOUBLE_EQ(s.forgetting[0], 0.5);
  EXPECT_NEAR(s.forgetting[1], 0.3, 1e-12);
  EXPECT_TRUE(std::isnan(s.forgetting[2]));
  EXPECT_NEAR(s.average_forgetting, 0.4, 1e-12);
  EXPECT_NEAR(s.backward_transfer, -0.4, 1e-12);
  EXPECT_NEAR(s.forward_transfer[1], 0.1, 1e-12);   // scratch 0.9 vs 0.8 after the earlier stages
  EXPECT_NEAR(s.forward_transfer[2], -0.1, 1e-12);  // scratch 0.5 vs 0.6
  EXPECT_NEAR(s.average_forward_transfer, 0.0, 1e-12);
  EXPECT_NEAR(s.mean_final_mse, (1.5 + 1.1 + 0.6) / 3, 1e-12);
  ASSERT_EQ(s.forgetting_by_stage.size(), 3u);
  EXPECT_DOUBLE_EQ(s.forgetting_by_stage[0], 0.0);
  EXPECT_NEAR(s.forgetting_by_stage[1], 0.2, 1e-12);        // base only
  EXPECT_NEAR(s.forgetting_by_stage[2], (0.5 + 0.3) / 2, 1e-12);
  EXPECT_THROW(gil::summarise({{1.0, 2.0}}, {0}, {}), Error);
  // Leaving the base genes out of the averages (a gil run does: every stage trains them).
  gil::ForgettingSummary stages_only = gil::summarise(mse, {0, 1, 2}, {nan, 0.9, 0.5}, {0, 1, 1});
  EXPECT_DOUBLE_EQ(stages_only.forgetting[0], 0.5);  // still reported
  EXPECT_NEAR(stages_only.average_forgetting, 0.3, 1e-12);
  EXPECT_NEAR(stages_only.forgetting_by_stage[1], 0.0, 1e-12);
  EXPECT_NEAR(stages_only.forgetting_by_stage[2], 0.3, 1e-12);

  gil::MeanCi c = gil::mean_ci({1.0, 2.0, 3.0});
  EXPECT_DOUBLE_EQ(c.mean, 2.0);
  EXPECT_NEAR(c.half_width, 4.303 * 1.0 / std::sqrt(3.0), 1e-9);
  EXPECT_TRUE(std::isnan(gil::mean_ci({1.0}).half_width));
}

gil::StagePlan two_stage_plan() {
  gil::StagePlan p;
  p.base_genes = {"a", "b"};
  p.stages = {{"base", 0, {}, {"c1", "c2"}, std::nullopt}, {"s1", 0, {"x", "y"}, {"c3"}, std::nullopt}};
  p.holdout = {{"c4"}};
  return p;
}

void expect_error(const std::function<void()>& f, const std::string& words) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << words << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

TEST(GilPlan, OverlappingSetsEmptyStagesAndSharedCellsAreRejected) {
  gil::StagePlan ok = two_stage_plan();
  EXPECT_NO_THROW(ok.validate("plan"));
  // JSON round trip.
  gil::StagePlan back = gil::StagePlan::from_json(ok.to_json(), "plan");
  EXPECT_EQ(back.to_json(), ok.to_json());

  gil::StagePlan overlap = two_stage_plan();
  overlap.stages[1].genes.push_back("a");
  expect_error([&] { overlap.validate("plan"); }, "already in the base genes");
  gil::StagePlan overlap2 = two_stage_plan();
  overlap2.stages.push_back({"s2", 0, {"y", "z"}, {"c5"}, std::nullopt});
  expect_error([&] { overlap2.validate("plan"); }, "must be disjoint");
  gil::StagePlan no_genes = two_stage_plan();
  no_genes.stages[1].genes.clear();
  expect_error([&] { no_genes.validate("plan"); }, "has no genes of its own");
  gil::StagePlan no_cells = two_stage_plan();
  no_cells.stages[1].cells.clear();
  expect_error([&] { no_cells.validate("plan"); }, "has no cells");
  gil::StagePlan shared = two_stage_plan();
  shared.stages[1].cells.push_back("c1");
  expect_error([&] { shared.validate("plan"); }, "is also in stage 'base'");
  gil::StagePlan leak = two_stage_plan();
  leak.stages[1].cells.push_back("c4");
  expect_error([&] { leak.validate("plan"); }, "held-out");
  expect_error([] { gil::StagePlan::from_json(nlohmann::json{{"stages", 3}}, "p.json"); }, "not a stage plan");
}

TEST(GilPlan, AutoPlansSplitGenesAndCellsAsAsked) {
  AnnData data = simulated(600, 300);
  std::vector<const AnnData*> files = {&data};
  gil::PlanOptions o;
  o.holdout.test_fraction = 0.2;
  o.min_cells = 1;
  gil::StagePlan random = gil::build_plan(files, {"sim.h5ad"}, o);
  ASSERT_EQ(random.n_stages(), 3);
  const size_t genes = random.base_genes.size() + random.stages[1].genes.size() + random.stages[2].genes.size();
  EXPECT_NEAR(static_cast<double>(random.base_genes.size()) / genes, 0.5, 0.01);
  EXPECT_NEAR(static_cast<double>(random.stages[1].genes.size()), static_cast<double>(random.stages[2].genes.size()), 1.0);
  EXPECT_EQ(random.holdout[0].size(), 120u);
  EXPECT_EQ(random.stages[0].cells.size(), 240u);  // 50 / 25 / 25 of the 480 others
  EXPECT_EQ(random.stages[1].cells.size(), 120u);
  EXPECT_EQ(random.stages[2].cells.size(), 120u);
  EXPECT_NO_THROW(gil::check_plan_against(random, files));

  // markers:cell_type: each stage's genes separate its classes, disjoint, and carry a probe task.
  const Column& types = data.obs.require("cell_type");
  std::vector<std::string> classes;
  for (const auto& [value, count] : types.value_counts())
    if (count >= 10) classes.push_back(value);
  ASSERT_GE(classes.size(), 4u);
  o.spec = "markers:cell_type";
  o.genes_per_stage = 20;
  o.stage_classes = {{classes[0], classes[1]}, {classes[2], classes[3]}};
  gil::StagePlan markers = gil::build_plan(files, {"sim.h5ad"}, o);
  ASSERT_EQ(markers.n_stages(), 3);
  EXPECT_EQ(markers.stages[1].genes.size(), 20u);
  EXPECT_EQ(markers.stages[2].genes.size(), 20u);
  ASSERT_TRUE(markers.stages[2].task.has_value());
  EXPECT_EQ(markers.stages[2].task->classes, o.stage_classes[1]);
  o.stage_classes = {{classes[0], "no such class"}};
  expect_error([&] { gil::build_plan(files, {"sim.h5ad"}, o); }, "no such class");
  o.spec = "panels";
  expect_error([&] { gil::build_plan(files, {"sim.h5ad"}, o); }, "two or more");
}

TEST(GilRun, SimulatedRunWritesResultsAndGrowingStageModels) {
  test::TempDir dir;
  AnnData data = simulated(900, 200, 5);
  io::write_h5ad(dir / "sim.h5ad", data);
  workflow::GilOptions o;
  o.data = {{dir / "sim.h5ad", "X", "", ""}};
  o.auto_plan.probe_label = "cell_type";
  o.strategies = {gil::Strategy::Finetune, gil::Strategy::Replay, gil::Strategy::Joint};
  o.model.dim = 16;
  o.model.latents = 8;
  o.model.heads = 2;
  o.train.epochs = 2;
  o.train.batch_size = 32;
  o.replay_size = 100;
  o.eval_cells = 150;
  o.probe_cells = 300;
  o.out = dir / "gil";
  nlohmann::json r = workflow::gil_run(o);
  for (const char* f : {"plan.json", "results.json", "results.md", "forgetting.svg"}) EXPECT_TRUE(std::filesystem::exists(dir / ("gil/" + std::string(f)))) << f;
  ASSERT_EQ(r["runs"].size(), 3u);
  const auto& finetune = r["runs"][0];
  // MSE matrix: lower-triangular in stages (a set is scored from the stage that introduces it).
  ASSERT_EQ(finetune["mse"].size(), 3u);
  EXPECT_TRUE(finetune["mse"][0][0].is_number());
  EXPECT_TRUE(finetune["mse"][0][1].is_null());
  EXPECT_TRUE(finetune["mse"][2][2].is_number());
  EXPECT_NEAR(finetune["forgetting"][0].get<double>(), finetune["mse"][2][0].get<double>() - finetune["mse"][0][0].get<double>(), 1e-12);
  for (const auto& row : finetune["probe_accuracy"])
    for (const auto& v : row) EXPECT_TRUE(v.get<double>() >= 0 && v.get<double>() <= 1);
  EXPECT_TRUE(r["summary"]["joint"]["mean_final_mse"]["mean"].is_number());
  // Each stage's model carries the vocabulary it had, growing stage by stage.
  int64_t previous = 0;
  for (int k = 0; k < 3; ++k) {
    std::string path = dir / fmt::format("gil/models/finetune_seed0_stage{}.marrow", k);
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    int64_t genes = models::read_model_header(path, "exceiver").meta["vocabulary"].size();
    EXPECT_GT(genes, previous);
    previous = genes;
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "gil/models/joint_seed0_stage2.marrow"));
}

}  // namespace
}  // namespace marrow
