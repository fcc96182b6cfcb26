// Data-parallel training through c10d Gloo: two processes on 127.0.0.1 give the weights one process
// gives with the same global batch (autoencoder and gene model), and a rank that dies or never
// comes makes the others fail with a clear error instead of hanging.
#include <torch/torch.h>

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <cstdlib>
#include <unistd.h>

#include "marrow/models/autoencoder.hpp"
#include "marrow/models/exceiver.hpp"
#include "marrow/models/model_file.hpp"
#include "support.hpp"

namespace marrow {
namespace {

int free_port() { return 20000 + static_cast<int>(getpid() % 20000); }

// Runs `marrow ARGS` as ranks 0..world-1 of one group (rank 0 in the foreground, with rank0_tail
// appended; the others with other_tail); returns rank 0's exit code.
int run_ranks(const test::TempDir& dir, const std::string& args, int world, int port, const std::string& other_tail = "",
              const std::string& rank0_tail = "") {
  std::string command = "cd " + dir.path().string() + " && (";
  for (int r = 1; r < world; ++r)
    command += fmt::format("RANK={} WORLD_SIZE={} MASTER_ADDR=127.0.0.1 MASTER_PORT={} {} {} {} > rank{}.log 2>&1 & ", r, world, port,
                           MARROW_BINARY, args, other_tail, r);
  command += fmt::format("RANK=0 WORLD_SIZE={} MASTER_ADDR=127.0.0.1 MASTER_PORT={} {} {} {} > rank0.log 2>&1; echo $? > rank0.rc; wait)",
                         world, port, MARROW_BINARY, args, rank0_tail);
  EXPECT_EQ(std::system(command.c_str()), 0);
  return std::atoi(test::read_text(dir / "rank0.rc").c_str());
}

template <typename Model, typename Options>
std::vector<std::pair<std::string, torch::Tensor>> weights(const std::string& path, const char* kind) {
  models::ModelHeader header = models::read_model_header(path, kind);
  Model model(Options::from_json(header.meta.at("model")));
  models::load_model_weights(path, *model);
  std::vector<std::pair<std::string, torch::Tensor>> w;
  for (const auto& p : model->named_parameters()) w.emplace_back(p.key(), p.value().detach().clone());
  return w;
}

// Every parameter within a relative 1e-4 (of its largest value, at least 1). One slice is left out:
// the key part of an attention layer's input bias adds the same amount to every score of a query,
// which softmax ignores, so its true gradient is exactly zero and what it gets is rounding noise
// (different for every way of summing a batch) that Adam scales up to full-size steps. It changes
// no output, in one process or many.
void expect_close(const std::vector<std::pair<std::string, torch::Tensor>>& a, const std::vector<std::pair<std::string, torch::Tensor>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    torch::Tensor x = a[i].second, y = b[i].second;
    if (a[i].first.ends_with("in_proj_bias")) {
      const int64_t d = x.size(0) / 3;
      x = torch::cat({x.narrow(0, 0, d), x.narrow(0, 2 * d, d)});
      y = torch::cat({y.narrow(0, 0, d), y.narrow(0, 2 * d, d)});
    }
    double scale = std::max(1.0, y.abs().max().item<double>());
    double diff = (x - y).abs().max().item<double>();
    EXPECT_LT(diff / scale, 1e-4) << a[i].first;
  }
}

class Distributed : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = test::run_marrow(fmt::format("simulate --cells 400 --genes 200 --seed 4 --out {}", dir / "sim.h5ad"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  test::TempDir dir;
};

// With the default dropout (0.1): each cell's masks follow the cell, not the rank it lands on.
TEST_F(Distributed, TwoRanksTrainTheAutoencoderOneRankTrains) {
  const std::string args = "pretrain ae --data " + dir / "sim.h5ad" + " --latent 16 --hidden 64 --epochs 2 --batch-size 64 --patience 0 --seed 3";
  auto one = test::run_marrow(args + " --out " + dir / "one.marrow");
  ASSERT_EQ(one.exit_code, 0) << one.output;
  ASSERT_EQ(run_ranks(dir, args + " --out two.marrow", 2, free_port()), 0) << test::read_text(dir / "rank0.log") << test::read_text(dir / "rank1.log");
  EXPECT_NE(test::read_text(dir / "rank0.log").find("data-parallel over 2 ranks"), std::string::npos);
  // Rank 1 trained but wrote nothing.
  EXPECT_EQ(test::read_text(dir / "rank1.log").find("wrote"), std::string::npos);
  expect_close(weights<models::Autoencoder, models::AutoencoderOptions>(dir / "two.marrow", "autoencoder"),
               weights<models::Autoencoder, models::AutoencoderOptions>(dir / "one.marrow", "autoencoder"));
}

TEST_F(Distributed, TwoRanksTrainTheGeneModelOneRankTrains) {
  // The masked objective alone: the contrastive one (on by default) takes its negatives from each
  // rank's own share of the batch, so ranks change what it computes (docs/distributed.md).
  const std::string args = "pretrain exceiver --data " + dir / "sim.h5ad" +
                           " --dim 16 --latents 8 --heads 2 --epochs 2 --batch-size 32 --patience 0 --seed 3 --contrastive 0";
  auto one = test::run_marrow(args + " --out " + dir / "one.marrow");
  ASSERT_EQ(one.exit_code, 0) << one.output;
  ASSERT_EQ(run_ranks(dir, args + " --out two.marrow", 2, free_port() + 1), 0) << test::read_text(dir / "rank0.log") << test::read_text(dir / "rank1.log");
  expect_close(weights<models::Exceiver, models::ExceiverOptions>(dir / "two.marrow", "exceiver"),
               weights<models::Exceiver, models::ExceiverOptions>(dir / "one.marrow", "exceiver"));
}

TEST_F(Distributed, ARankThatDiesOrNeverComesEndsTheOthersWithAClearError) {
  // Rank 1 leaves after one epoch of three (as if killed): rank 0 must fail, not hang.
  const std::string args = "pretrain ae --data " + dir / "sim.h5ad" + " --latent 8 --hidden 32 --batch-size 64 --patience 0";
  auto started = std::chrono::steady_clock::now();
  int rc = run_ranks(dir, args + " --dist-timeout 20 --out two.marrow --epochs", 2, free_port() + 2, "1", "3");
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(rc, 2) << test::read_text(dir / "rank0.log");
  EXPECT_NE(test::read_text(dir / "rank0.log").find("another rank has probably died"), std::string::npos) << test::read_text(dir / "rank0.log");
  EXPECT_LT(seconds, 60);
  EXPECT_FALSE(std::filesystem::exists(dir / "two.marrow"));

  // Rank 0 alone in a group of two: the rendezvous times out with a clear error.
  auto alone = test::run_marrow(args + " --epochs 1 --rank 0 --world-size 2 --master-port " + std::to_string(free_port() + 3) +
                                " --dist-timeout 3 --out " + dir / "alone.marrow");
  EXPECT_EQ(alone.exit_code, 2) << alone.output;
  EXPECT_NE(alone.output.find("cannot join the process group"), std::string::npos) << alone.output;
  auto bad = test::run_marrow(args + " --rank 2 --world-size 2 --out " + dir / "bad.marrow");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("--rank 2 is outside"), std::string::npos) << bad.output;
}

TEST_F(Distributed, DeviceChoiceIsCheckedBeforeAnyWork) {
  const std::string data = " --data " + dir / "sim.h5ad";
  auto bad = test::run_marrow("pretrain ae" + data + " --device tpu --out " + dir / "x.marrow");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("--device must be cpu, cuda or cuda:N"), std::string::npos) << bad.output;
  auto bf16 = test::run_marrow("pretrain exceiver" + data + " --bf16 --out " + dir / "x.marrow");
  EXPECT_EQ(bf16.exit_code, 2);
  EXPECT_NE(bf16.output.find("--bf16 needs --device cuda"), std::string::npos) << bf16.output;
  if (torch::cuda::is_available()) GTEST_SKIP() << "CUDA is available here: the no-CUDA error path is not reachable";
  for (const std::string command : {"pretrain ae", "pretrain exceiver", "gil run"}) {
    auto r = test::run_marrow(command + data + " --device cuda --out " + dir / "x.out");
    EXPECT_EQ(r.exit_code, 2) << command;
    EXPECT_NE(r.output.find("has no CUDA support"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("cells x"), std::string::npos) << command << ": loaded data before refusing";
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "x.marrow"));
}

}  // namespace
}  // namespace marrow
