// The marrow binary end to end: outputs, JSON keys, and the bad-input contract (a one-line error
// naming the file, exit code 2, nothing written).
#include <fstream>
#include <iterator>
#include <regex>
#include <nlohmann/json.hpp>

#include "marrow/io/h5ad_reader.hpp"
#include "marrow/io/h5ad_writer.hpp"
#include "support.hpp"

namespace marrow {
namespace {

using test::fixture;
using test::run_marrow;

using test::count_lines;
using test::expect_bad_input;

TEST(Cli, InspectJsonKeys) {
  test::CommandResult r = run_marrow("inspect --json " + fixture("csr_f32.h5ad"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["n_cells"], 6);
  EXPECT_EQ(j["n_genes"], 5);
  EXPECT_EQ(j["layers"], nlohmann::json::array({"counts"}));
  EXPECT_TRUE(j["looks_like_counts"].get<bool>());
}

TEST(Cli, SimulateSplitPreprocessApply) {
  test::TempDir dir;
  ASSERT_EQ(run_marrow("-q simulate --cells 400 --genes 300 --seed 5 --out " + (dir / "sim.h5ad")).exit_code, 0);
  test::CommandResult split = run_marrow("-q split --data " + (dir / "sim.h5ad") +
                                         " --cells \"lineage=progenitor,monocytic\" --by group:patient --out " + (dir / "split.json"));
  ASSERT_EQ(split.exit_code, 0) << split.output;
  std::ifstream in(dir / "split.json");
  nlohmann::json s = nlohmann::json::parse(in);
  EXPECT_EQ(s["kind"], "group");
  EXPECT_FALSE(s["test_groups"].empty());

  test::CommandResult pre = run_marrow("-q preprocess --data " + (dir / "sim.h5ad") + " --split-file " + (dir / "split.json") +
                                       " --cells \"lineage=progenitor,monocytic\" --min-cells 3 --hvg seurat_v3 --n-top-genes 100"
                                       " --scale --out " + (dir / "pre.h5ad") + " --save-preprocessor " + (dir / "pp.json"));
  ASSERT_EQ(pre.exit_code, 0) << pre.output;
  AnnData out = io::read_h5ad(dir / "pre.h5ad");
  EXPECT_EQ(out.n_genes(), 100);
  EXPECT_NE(out.obs.find("marrow_split"), nullptr);

  // The saved preprocessor gives new data (all cells) the same transform.
  test::CommandResult apply = run_marrow("-q preprocess --data " + (dir / "sim.h5ad") + " --apply " + (dir / "pp.json") +
                                         " --out " + (dir / "applied.h5ad"));
  ASSERT_EQ(apply.exit_code, 0) << apply.output;
  AnnData applied = io::read_h5ad(dir / "applied.h5ad");
  EXPECT_EQ(applied.var.index, out.var.index);
  EXPECT_EQ(applied.n_cells(), 400);
}

TEST(Cli, DemoRunsAndSaysWhereTheOutputsAre) {
  test::TempDir dir;
  test::CommandResult r = run_marrow("demo --cells 600 --genes 400 --out " + (dir / "demo"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("report: " + (dir / "demo") + "/report.md"), std::string::npos) << r.output;
  for (const char* f : {"simulated.h5ad", "split.json", "ae.marrow", "embedded.h5ad", "results.json", "report.md"})
    EXPECT_TRUE(std::filesystem::exists(dir / ("demo/" + std::string(f)))) << f;
  // Every image the report links exists and is an SVG document: the training curves, a confusion
  // matrix per classifier and an embedding map per task.
  std::ifstream in(dir / "demo/report.md");
  std::string report((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::regex image(R"(!\[[^\]]*\]\((figures/[^)]+\.svg)\))");
  int images = 0, confusions = 0, maps = 0, curves = 0;
  for (auto it = std::sregex_iterator(report.begin(), report.end(), image); it != std::sregex_iterator(); ++it) {
    std::string path = (*it)[1].str();
    std::ifstream svg(dir / ("demo/" + path));
    std::string text((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text.rfind("<svg", 0), 0u) << path;
    EXPECT_NE(text.find("</svg>"), std::string::npos) << path;
    ++images;
    confusions += path.find("_confusion.svg") != std::string::npos;
    maps += path.find("_map.svg") != std::string::npos;
    curves += path.find("_curves.svg") != std::string::npos || path.find("autoencoder_loss.svg") != std::string::npos;
  }
  EXPECT_GE(confusions, 4) << report;
  EXPECT_GE(maps, 1) << report;
  EXPECT_GE(curves, 2) << report;
  EXPECT_EQ(images, confusions + maps + curves);
}

TEST(CliBadInput, MissingFile) {
  test::TempDir dir;
  expect_bad_input("inspect " + (dir / "nope.h5ad"), dir / "nope.h5ad", "file not found", dir / "never");
  expect_bad_input("preprocess --data " + (dir / "nope.h5ad") + " --out " + (dir / "o.h5ad"), dir / "nope.h5ad",
                   "file not found", dir / "o.h5ad");
}

TEST(CliBadInput, TruncatedFile) {
  test::TempDir dir;
  std::string path = dir / "cut.h5ad";
  std::filesystem::copy_file(fixture("csr_f32.h5ad"), path);
  std::filesystem::resize_file(path, 3000);
  expect_bad_input("preprocess --data " + path + " --out " + (dir / "o.h5ad"), path, "truncated or corrupt", dir / "o.h5ad");
}

TEST(CliBadInput, NotHdf5) {
  test::TempDir dir;
  std::string path = dir / "text.h5ad";
  std::ofstream(path) << "cell,gene\n1,2\n";
  expect_bad_input("preprocess --data " + path + " --out " + (dir / "o.h5ad"), path, "not an HDF5 file", dir / "o.h5ad");
}

TEST(CliBadInput, ShapeDisagreesWithObs) {
  test::TempDir dir;
  expect_bad_input("preprocess --data " + fixture("shape_mismatch.h5ad") + " --out " + (dir / "o.h5ad"),
                   fixture("shape_mismatch.h5ad"), "X has 6 rows but obs has 5 cells", dir / "o.h5ad");
}

TEST(CliBadInput, CompressionFilterMissing) {
  test::TempDir dir;
  expect_bad_input("preprocess --data " + fixture("lzf.h5ad") + " --out " + (dir / "o.h5ad"), fixture("lzf.h5ad"), "lzf",
                   dir / "o.h5ad");
}

TEST(CliBadInput, NegativeOrNanCounts) {
  test::TempDir dir;
  for (float bad : {-3.0f, std::nanf("")}) {
    AnnData a = io::read_h5ad(fixture("csr_f32.h5ad"));
    a.X.data[4] = bad;
    std::string path = dir / "bad_counts.h5ad";
    io::write_h5ad(path, a);
    expect_bad_input("preprocess --data " + path + " --out " + (dir / "o.h5ad"), path, "raw counts", dir / "o.h5ad");
    std::filesystem::remove(path);
  }
}

TEST(CliBadInput, SelectionMatchesNothing) {
  test::TempDir dir;
  expect_bad_input("preprocess --data " + fixture("csr_f32.h5ad") + " --cells cell_type=Mono --out " + (dir / "o.h5ad"),
                   fixture("csr_f32.h5ad"), "matches no cell", dir / "o.h5ad");
}

TEST(CliBadInput, UnknownObsColumn) {
  test::TempDir dir;
  expect_bad_input("split --data " + fixture("csr_f32.h5ad") + " --cells celltype=T --out " + (dir / "s.json"),
                   fixture("csr_f32.h5ad"), "unknown obs column 'celltype'", dir / "s.json");
}

TEST(CliBadInput, EmptyGeneOverlap) {
  test::TempDir dir;
  ASSERT_EQ(run_marrow("-q simulate --cells 50 --genes 120 --out " + (dir / "sim.h5ad")).exit_code, 0);
  ASSERT_EQ(run_marrow("-q preprocess --data " + (dir / "sim.h5ad") + " --out " + (dir / "pre.h5ad") +
                       " --save-preprocessor " + (dir / "pp.json")).exit_code, 0);
  expect_bad_input("preprocess --data " + fixture("csr_f32.h5ad") + " --apply " + (dir / "pp.json") + " --out " +
                       (dir / "o.h5ad"),
                   fixture("csr_f32.h5ad"), "no gene of the data matches", dir / "o.h5ad");
}

TEST(CliBadInput, UsageErrorsExitTwo) {
  EXPECT_EQ(run_marrow("inspect").exit_code, 2);
  EXPECT_EQ(run_marrow("no-such-command").exit_code, 2);
  EXPECT_EQ(run_marrow("simulate --cells 3 --out /tmp/x.h5ad").exit_code, 2);
}

TEST(CliBadInput, EmbeddingMetricsNeedTwoClasses) {
  test::TempDir dir;
  const std::string sim = dir / "sim.h5ad";
  ASSERT_EQ(run_marrow("-q simulate --cells 200 --genes 100 --seed 3 --out " + sim).exit_code, 0);
  // One lineage selected: the label has a single class, so accuracy and ARI say nothing.
  expect_bad_input("embedding-metrics --data " + sim + " --cells lineage=progenitor --label lineage --embedding pca", sim,
                   "at least two classes", dir / "none");
  // A label table whose column is empty for every cell.
  std::string table = "barcode,empty_label\n";
  for (const auto& cell : io::read_h5ad(sim).obs.index) table += cell + ",\n";
  std::ofstream(dir / "labels.csv") << table;
  expect_bad_input("embedding-metrics --data " + sim + " --labels " + (dir / "labels.csv") +
                       " --label empty_label --embedding pca",
                   "empty_label", "no selected cell has a value", dir / "none");
}

}  // namespace
}  // namespace marrow

namespace marrow {
namespace {

// Output that is not a terminal (this pipe, CI logs, notebooks) gets an epoch line at every tenth of
// the run and the last one, not one per epoch; --verbose keeps every epoch.
// The gene model's default epochs are raised on small data to reach --min-steps; epochs asked for
// explicitly are the epochs run (the step budget then applies only when it is asked for too).
TEST(Cli, MinimumStepsRaiseOnlyTheDefaultEpochs) {
  test::TempDir dir;
  ASSERT_EQ(test::run_marrow("-q simulate --cells 200 --genes 100 --seed 2 --out " + (dir / "sim.h5ad")).exit_code, 0);
  // 180 training cells in one batch of 256: one step an epoch.
  const std::string args = "-q pretrain exceiver --data " + (dir / "sim.h5ad") +
                           " --dim 8 --latents 2 --heads 1 --max-tokens 16 --patience 0 --out " + (dir / "m.marrow");
  auto epochs_run = [&](const std::string& options) {
    const auto r = test::run_marrow(args + " --metrics " + (dir / "m.jsonl") + " " + options);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return count_lines(test::read_text(dir / "m.jsonl"));
  };
  EXPECT_EQ(epochs_run("--min-steps 40"), 40);  // default 30 epochs raised to 40 steps
  EXPECT_EQ(epochs_run("--epochs 3"), 3);        // the default budget does not override --epochs
  EXPECT_EQ(epochs_run("--epochs 3 --min-steps 5"), 5);
}

TEST(Cli, PipedTrainingPrintsAboutTenEpochLines) {
  test::TempDir dir;
  ASSERT_EQ(test::run_marrow("-q simulate --cells 200 --genes 100 --seed 2 --out " + (dir / "sim.h5ad")).exit_code, 0);
  auto epoch_lines = [](const std::string& output) {
    int n = 0;
    for (size_t at = output.find("pretrain ae epoch "); at != std::string::npos; at = output.find("pretrain ae epoch ", at + 1)) ++n;
    return n;
  };
  const std::string args = "pretrain ae --data " + (dir / "sim.h5ad") + " --latent 4 --hidden 16 --epochs 40 --patience 100 --out ";
  const auto piped = test::run_marrow(args + (dir / "a.marrow"));
  ASSERT_EQ(piped.exit_code, 0) << piped.output;
  EXPECT_GE(epoch_lines(piped.output), 10);
  EXPECT_LE(epoch_lines(piped.output), 12) << piped.output;
  EXPECT_NE(piped.output.find("epoch 40/40"), std::string::npos);
  const auto verbose = test::run_marrow("--verbose " + args + (dir / "b.marrow"));
  ASSERT_EQ(verbose.exit_code, 0) << verbose.output;
  EXPECT_EQ(epoch_lines(verbose.output), 40);
}

}  // namespace
}  // namespace marrow
