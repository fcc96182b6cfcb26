// `marrow cv` end to end on simulated patients: folds over whole patients, nothing fitted on a
// fold's test (or validation) patients, thresholds from validation cells, resume after a kill, and
// bad configs refused with one clear line.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "marrow/core/json_util.hpp"
#include "marrow/io/h5ad_writer.hpp"
#include "marrow/models/model_file.hpp"
#include "marrow/preprocess/pipeline.hpp"
#include "marrow/sim/simulator.hpp"
#include "support.hpp"

namespace marrow {
namespace {

namespace fs = std::filesystem;

// Simulated AML patients and healthy donors; each patient's cells, and only theirs, express one
// planted gene MARKER_<patient>. A step fitted with a fold's test or validation cells would keep that
// patient's marker (it passes the gene filter only with them), so the markers show any leak.
std::string planted_data(const test::TempDir& dir) {
  sim::SimulationOptions o;
  o.cells = 900;
  o.genes = 300;
  o.seed = 11;
  o.aml_patients = 6;
  o.healthy_donors = 3;
  AnnData data = sim::simulate(o);
  const Column& patient = data.obs.require("patient");
  std::map<std::string, int64_t> marker_column;
  for (int64_t r = 0; r < data.n_cells(); ++r) marker_column.emplace(patient.text(r), static_cast<int64_t>(marker_column.size()));
  DenseMatrix x{data.n_cells(), data.n_genes(), std::vector<float>(static_cast<size_t>(data.n_cells() * data.n_genes()))};
  data.X.to_dense(0, data.n_cells(), x.values.data());
  for (const auto& [p, column] : marker_column) {
    data.var.index[column] = "MARKER_" + p;
    for (int64_t r = 0; r < data.n_cells(); ++r) x.at(r, column) = patient.text(r) == p ? 30.0f : 0.0f;
  }
  data.X = CsrMatrix::from_dense(x.rows, x.cols, x.values.data());
  const std::string path = dir / "planted.h5ad";
  io::write_h5ad(path, data);
  return path;
}

nlohmann::json cv_config(const std::string& data) {
  return {{"data", data},
          {"seed", 0},
          {"split", {{"by", "group:patient"}, {"stratify", "condition"}}},
          {"pretrain", {{"latent", 8}, {"hidden", {32}}, {"epochs", 3}, {"batch_size", 64}, {"patience", 2}, {"min_cells", 3}}},
          {"classify", {{"epochs", 4}, {"patience", 2}, {"baseline_genes", 100}, {"baseline_components", 10}}},
          {"cv", {{"folds", 3}, {"seeds", {0}}}},
          {"tasks",
           {{{"name", "malignancy"},
             {"label", "malignancy"},
             {"cells", "lineage=progenitor;malignancy=malignant,normal"},
             {"positive", "malignant"},
             {"heads", {"linear"}},
             {"finetune_heads", {"linear"}},
             {"zeroshot", {{"monocytic", "lineage=monocytic;malignancy=malignant,normal"}}}},
            {{"name", "states"}, {"label", "cell_type"}, {"heads", {"linear"}}}}}};
}

std::string write_config(const test::TempDir& dir, const std::string& name, const nlohmann::json& config) {
  const std::string path = dir / name;
  std::ofstream(path) << config.dump(2);
  return path;
}

// Genes a fitted step kept: the autoencoder's input, a baseline classifier's genes.
std::set<std::string> fitted_genes(const nlohmann::json& preprocessing) {
  const auto p = preprocess::Preprocessor::from_json(preprocessing);
  std::set<std::string> genes(p.output_genes().begin(), p.output_genes().end());
  for (const auto& g : p.qc_genes().genes()) genes.insert(g);
  return genes;
}

class CvTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    data_ = planted_data(*dir_);
    config_ = write_config(*dir_, "cv.json", cv_config(data_));
    first_ = test::run_marrow("-q cv " + config_ + " --out " + (*dir_ / "run"));
  }
  static void TearDownTestSuite() { delete dir_; }
  static test::TempDir* dir_;
  static std::string data_, config_;
  static test::CommandResult first_;
};
test::TempDir* CvTest::dir_ = nullptr;
std::string CvTest::data_, CvTest::config_;
test::CommandResult CvTest::first_;

TEST_F(CvTest, EveryPatientIsTestedOnceAndEveryModelIsComparedWithBothBaselines) {
  ASSERT_EQ(first_.exit_code, 0) << first_.output;
  const nlohmann::json r = read_json_file(*dir_ / "run/results.json");
  ASSERT_EQ(r["folds"].size(), 3u);
  std::multiset<std::string> tested;
  for (const auto& f : r["folds"]) {
    for (const auto& g : f["test_groups"]) tested.insert(g.get<std::string>());
    for (const char* model : {"autoencoder_linear", "pca", "hvg_lr"})
      for (const char* task : {"malignancy", "malignancy/monocytic", "states"}) {
        ASSERT_TRUE(f["metrics"][model].contains(task)) << model << " " << task;
        const auto& m = f["metrics"][model][task];
        for (const char* key : {"auroc", "average_precision", "balanced_accuracy", "macro_f1"}) EXPECT_TRUE(m.contains(key)) << key;
        if (std::string(task) != "states") {
          EXPECT_TRUE(m.contains("threshold"));
          EXPECT_TRUE(m.contains("call_rate"));
          EXPECT_TRUE(m.contains("f1"));
        }
      }
  }
  EXPECT_EQ(tested.size(), 9u);
  EXPECT_EQ(std::set<std::string>(tested.begin(), tested.end()).size(), 9u);
  // finetune_heads: the fold's encoder fine-tuned, the same network from scratch, the head on the genes.
  for (const auto& f : r["folds"]) {
    for (const char* model : {"finetuned_linear", "scratch_linear", "hvg_linear"}) {
      EXPECT_TRUE(f["metrics"][model].contains("malignancy/monocytic")) << model;
      EXPECT_FALSE(f["metrics"][model].contains("states")) << model;
    }
    const fs::path work = *dir_ / fmt::format("run/work/seed0_fold{}", f["fold"].get<int>());
    auto pretrained_of = [&](const char* name) {
      return models::read_model_header((work / name).string(), "classifier").meta["features"]["autoencoder"]["pretrained"];
    };
    EXPECT_EQ(pretrained_of("malignancy_finetuned_linear.marrow"), (work / "ae.marrow").string());
    EXPECT_EQ(pretrained_of("malignancy_scratch_linear.marrow"), "");
  }
  std::set<std::string> baselines;
  const std::set<std::string> compared = {"autoencoder_linear", "finetuned_linear", "scratch_linear", "hvg_linear"};
  for (const auto& c : r["comparisons"]) {
    EXPECT_TRUE(compared.count(c["model"].get<std::string>())) << c["model"];
    baselines.insert(c["baseline"].get<std::string>());
    EXPECT_EQ(c["n"].get<int64_t>(), 3);
    ASSERT_EQ(c["ci95"].size(), 2u);
    if (!c["ci95"][0].is_null()) EXPECT_LE(c["ci95"][0].get<double>(), c["mean_difference"].get<double>());
  }
  EXPECT_EQ(baselines, (std::set<std::string>{"pca", "hvg_lr"}));
  for (const char* f : {"results.md", "figures/malignancy_auroc.svg", "figures/malignancy_roc.svg", "figures/states_balanced_accuracy.svg"})
    EXPECT_TRUE(fs::exists(*dir_ / (std::string("run/") + f))) << f;
}

TEST_F(CvTest, NoFittedStepSeesAFoldsTestOrValidationPatients) {
  ASSERT_EQ(first_.exit_code, 0) << first_.output;
  const nlohmann::json r = read_json_file(*dir_ / "run/results.json");
  for (const auto& f : r["folds"]) {
    const fs::path work = *dir_ / fmt::format("run/work/seed0_fold{}", f["fold"].get<int>());
    std::set<std::string> held;  // markers of patients the fold must not fit on
    for (const char* part : {"test_groups", "validation_groups"})
      for (const auto& g : f[part]) held.insert("MARKER_" + g.get<std::string>());
    ASSERT_FALSE(held.empty());
    std::vector<std::set<std::string>> steps;
    steps.push_back(fitted_genes(models::read_model_header((work / "ae.marrow").string(), "autoencoder").meta.at("preprocessing")));
    for (const char* task : {"malignancy", "states"})
      for (const char* baseline : {"pca", "hvg_lr"}) {
        const auto meta = models::read_model_header((work / fmt::format("{}_{}.marrow", task, baseline)).string(), "classifier").meta;
        steps.push_back(fitted_genes(meta.at("features").at("preprocessing")));
        // The binary head's threshold came from the validation patients' cells.
        if (std::string(task) == "malignancy")
          EXPECT_NE(meta.at("decision").at("chosen_on").get<std::string>().find("validation part"), std::string::npos);
      }
    for (const auto& genes : steps) {
      size_t kept_markers = 0;
      for (const auto& g : genes) kept_markers += g.rfind("MARKER_", 0) == 0;
      EXPECT_GT(kept_markers, 0u) << "training patients' markers must pass the filter, else the test shows nothing";
      for (const auto& m : held) EXPECT_FALSE(genes.count(m)) << m << " was fitted in fold " << f["fold"];
    }
  }
}

TEST_F(CvTest, AKilledRunResumesToTheSameResults) {
  ASSERT_EQ(first_.exit_code, 0) << first_.output;
  const std::string out = *dir_ / "resumed";
  pid_t pid = fork();
  if (pid == 0) {
    execl(MARROW_BINARY, MARROW_BINARY, "-q", "cv", config_.c_str(), "--out", out.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Killed once the first fold is kept (and the second has started).
  while (!fs::exists(out + "/folds/seed0_fold0.json") && waitpid(pid, nullptr, WNOHANG) == 0) usleep(20000);
  usleep(300000);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  ASSERT_TRUE(fs::exists(out + "/folds/seed0_fold0.json"));
  EXPECT_FALSE(fs::exists(out + "/results.json"));
  const auto again = test::run_marrow("cv " + config_ + " --out " + out);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("seed0_fold0 already done"), std::string::npos) << again.output;
  EXPECT_EQ(read_json_file(out + "/results.json"), read_json_file(*dir_ / "run/results.json"));
}

TEST_F(CvTest, BadConfigsAreOneClearLine) {
  auto expect_refused = [&](nlohmann::json config, const std::string& message) {
    const std::string path = write_config(*dir_, "bad.json", config);
    const std::string out = *dir_ / "bad-out";
    const auto r = test::run_marrow("-q cv " + path + " --out " + out);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
    EXPECT_LE(test::count_lines(r.output), 1) << r.output;
    EXPECT_FALSE(fs::exists(out)) << "a refused config left an output directory";
  };
  nlohmann::json c = cv_config(data_);
  c["cv"]["folds"] = 12;
  expect_refused(c, "12 folds need at least 12 groups, found 9");
  c = cv_config(data_);
  c["split"]["by"] = "group:donor";
  expect_refused(c, "donor");
  c = cv_config(data_);
  c["tasks"][1]["label"] = "patient";  // every fold tests patients its training part never has
  expect_refused(c, "that no training patient of the fold has");
  c = cv_config(data_);
  c["split"]["by"] = "random";
  expect_refused(c, "split.by must be group:COLUMN");
  c = cv_config(data_);
  c["cv"]["fold"] = 3;
  expect_refused(c, "unknown key 'fold'");
  c = cv_config(data_);
  c["tasks"][0]["finetune_heads"] = {"gcn"};
  expect_refused(c, "the gcn head needs fixed features");
  // A directory holding another plan is refused, not mixed.
  c = cv_config(data_);
  c["seed"] = 5;
  c["cv"]["seeds"] = {5};
  const auto r = test::run_marrow("-q cv " + write_config(*dir_, "other.json", c) + " --out " + (*dir_ / "run"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("another config"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace marrow
