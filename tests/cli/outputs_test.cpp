// Outputs that fail cleanly: a read-only directory, a full disk (a small tmpfs), an output that is
// also an input, and temporary files of killed runs. Each failure is exit 2 with one line naming the
// path the user gave, no signal, no backtrace, and the output directory left as it was. Mounting
// needs root and a sandbox that allows it; where it does not, the tests that need it skip visibly.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "support.hpp"

namespace marrow {
namespace {

namespace fs = std::filesystem;
using test::run_marrow;

// A directory with a file system of its own for the test's lifetime: a tmpfs of a given size, or
// a read-only bind mount of an existing directory. ok() is false where mounting is not allowed.
class Mount {
 public:
  static Mount tmpfs(const std::string& dir, const std::string& size) {
    fs::create_directories(dir);
    return Mount(dir, std::system(("mount -t tmpfs -o size=" + size + " tmpfs " + dir + " 2>/dev/null").c_str()) == 0);
  }
  static Mount read_only(const std::string& dir) {
    fs::create_directories(dir);
    bool ok = std::system(("mount --bind " + dir + " " + dir + " 2>/dev/null").c_str()) == 0;
    if (ok && std::system(("mount -o remount,ro,bind " + dir + " 2>/dev/null").c_str()) != 0) {
      std::system(("umount " + dir).c_str());
      ok = false;
    }
    return Mount(dir, ok);
  }
  Mount(Mount&& other) noexcept : dir_(other.dir_), ok_(other.ok_) { other.ok_ = false; }
  ~Mount() {
    if (ok_) std::system(("umount " + dir_).c_str());
  }
  bool ok() const { return ok_; }

 private:
  Mount(std::string dir, bool ok) : dir_(std::move(dir)), ok_(ok) {}
  std::string dir_;
  bool ok_;
};

#define MARROW_REQUIRE_MOUNT(mount) \
  if (!(mount).ok()) GTEST_SKIP() << "cannot mount here (needs root and a sandbox that allows mount); skipping"

std::set<std::string> listing(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

// The contract of a failed write: exit 2, one line naming `names`, no temporary name, no backtrace,
// and `dir` holding what it held before.
void expect_failed_write(const test::CommandResult& r, const std::string& names, const std::string& fragment,
                         const std::string& dir, const std::set<std::string>& before) {
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(test::count_lines(r.output), 1) << r.output;
  EXPECT_EQ(r.output.rfind("marrow: error: ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find(names), std::string::npos) << "must name " << names << ": " << r.output;
  EXPECT_NE(r.output.find(fragment), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find(".tmp."), std::string::npos) << "names the temporary file: " << r.output;
  EXPECT_EQ(listing(dir), before) << "the output directory changed";
}

// A small simulated file shared by the tests of this suite.
class OutputsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    ASSERT_EQ(run_marrow("-q simulate --cells 300 --genes 2000 --seed 2 --out " + data()).exit_code, 0);
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string data() { return *dir_ / "sim.h5ad"; }
  static std::string pretrain(const std::string& extra) {
    return "-q pretrain ae --data " + data() + " --epochs 1 --hidden 64 --latent 8 --batch-size 64 " + extra;
  }
  static test::TempDir* dir_;
};
test::TempDir* OutputsTest::dir_ = nullptr;

TEST_F(OutputsTest, ReadOnlyOutputDirectory) {
  test::TempDir dir;
  Mount ro = Mount::read_only(dir / "ro");
  MARROW_REQUIRE_MOUNT(ro);
  expect_failed_write(run_marrow(pretrain("--out " + (dir / "ro/ae.marrow"))), dir / "ro/ae.marrow", "Read-only file system",
                      dir / "ro", {});
  expect_failed_write(run_marrow("-q simulate --cells 100 --genes 100 --out " + (dir / "ro/sim.h5ad")), dir / "ro/sim.h5ad",
                      "Read-only file system", dir / "ro", {});
}

TEST_F(OutputsTest, MetricsInReadOnlyDirectoryIsAnError) {
  test::TempDir dir;
  Mount ro = Mount::read_only(dir / "ro");
  MARROW_REQUIRE_MOUNT(ro);
  test::CommandResult r = run_marrow(pretrain("--out " + (dir / "ae.marrow") + " --metrics " + (dir / "ro/m.jsonl")));
  expect_failed_write(r, dir / "ro/m.jsonl", "Read-only file system", dir / "ro", {});
  EXPECT_FALSE(fs::exists(dir / "ae.marrow"));
}

TEST_F(OutputsTest, DiskFullDuringPretrain) {
  test::TempDir dir;
  Mount full = Mount::tmpfs(dir / "small", "1200k");  // room for the checks, not for a 2000-gene model
  MARROW_REQUIRE_MOUNT(full);
  for (const std::string& metrics : {std::string(), " --metrics " + (dir / "small/m.jsonl")}) {
    test::CommandResult r = run_marrow(pretrain("--out " + (dir / "small/ae.marrow") + metrics));
    EXPECT_EQ(r.output.find("frame #"), std::string::npos) << "backtrace: " << r.output;
    expect_failed_write(r, dir / "small/ae.marrow", "No space left on device", dir / "small",
                        metrics.empty() ? std::set<std::string>{} : std::set<std::string>{"m.jsonl"});
    fs::remove(dir / "small/m.jsonl");
  }
}

TEST_F(OutputsTest, DiskFullDuringSimulate) {
  test::TempDir dir;
  Mount full = Mount::tmpfs(dir / "small", "1200k");
  MARROW_REQUIRE_MOUNT(full);
  expect_failed_write(run_marrow("-q simulate --cells 3000 --genes 2000 --out " + (dir / "small/sim.h5ad")),
                      dir / "small/sim.h5ad", "sim.h5ad", dir / "small", {});
}

TEST_F(OutputsTest, FullDiskRefusedBeforeWork) {
  test::TempDir dir;
  Mount full = Mount::tmpfs(dir / "tiny", "256k");  // less than the 1 MiB every output needs free
  MARROW_REQUIRE_MOUNT(full);
  expect_failed_write(run_marrow(pretrain("--out " + (dir / "tiny/ae.marrow"))), dir / "tiny/ae.marrow", "free in",
                      dir / "tiny", {});
}

TEST_F(OutputsTest, OutputThatIsAnInputIsRefused) {
  test::TempDir dir;
  const std::string input = dir / "in.h5ad", link = dir / "hard-link.h5ad";
  fs::copy_file(data(), input);
  fs::create_hard_link(input, link);
  const std::string before = test::read_text(input);
  const std::set<std::string> files = listing(dir.path().string());
  for (const std::string& out : {input, link, dir.path().string() + "/./in.h5ad"}) {
    expect_failed_write(run_marrow("-q preprocess --data " + input + " --out " + out), out, "input", dir.path().string(),
                        files);
    expect_failed_write(run_marrow("-q split --data " + input + " --out " + out), out, "input", dir.path().string(), files);
  }
  expect_failed_write(run_marrow(pretrain("--out " + (dir / "ae.marrow") + " --metrics " + data())), data(), "input",
                      dir.path().string(), files);
  EXPECT_EQ(test::read_text(input), before) << "the input was changed";
}

TEST_F(OutputsTest, EmbedMayAddToItsInput) {
  // embed only adds obsm['X_marrow'] to its input: writing over it is allowed.
  test::TempDir dir;
  ASSERT_EQ(run_marrow(pretrain("--out " + (dir / "ae.marrow"))).exit_code, 0);
  const std::string file = dir / "in.h5ad";
  fs::copy_file(data(), file);
  test::CommandResult r = run_marrow("-q embed --model " + (dir / "ae.marrow") + " --data " + file + " --out " + file);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // ... but not with a cell selection, which would replace it with a subset.
  const std::set<std::string> files = listing(dir.path().string());
  expect_failed_write(run_marrow("-q embed --model " + (dir / "ae.marrow") + " --data " + file +
                                 " --cells lineage=progenitor --out " + file),
                      file, "input", dir.path().string(), files);
}

pid_t finished_process() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

TEST_F(OutputsTest, StaleTemporaryFilesOfDeadProcessesRemoved) {
  test::TempDir dir;
  const std::string dead = dir / ("old.h5ad.tmp." + std::to_string(finished_process()));
  const std::string alive = dir / ("other.marrow.ckpt.tmp." + std::to_string(getpid()));
  const std::string unrelated = dir / "notes.tmp.txt";
  for (const std::string& f : {dead, alive, unrelated}) std::ofstream(f) << "partial";
  ASSERT_EQ(run_marrow("-q simulate --cells 100 --genes 100 --out " + (dir / "sim.h5ad")).exit_code, 0);
  EXPECT_FALSE(fs::exists(dead)) << "a dead process's temporary file stayed";
  EXPECT_TRUE(fs::exists(alive)) << "a running process's temporary file was removed";
  EXPECT_TRUE(fs::exists(unrelated));
  EXPECT_TRUE(fs::exists(dir / "sim.h5ad"));
}

// The temporary files in `dir` (NAME.tmp.PID); with `written`, only those with data in them (not
// the empty probe of the writability check).
std::set<std::string> temporaries(const std::string& dir, bool written = false) {
  std::set<std::string> names;
  std::error_code ec;
  for (const std::string& name : listing(dir))
    if (name.find(".tmp.") != std::string::npos && (!written || fs::file_size(fs::path(dir) / name, ec) > 0))
      names.insert(name);
  return names;
}

TEST_F(OutputsTest, WriteKilledMidwayLeavesNothingAfterTheNextRun) {
  // A real SIGKILL while `simulate` writes: its NAME.tmp.PID stays (nothing can remove it then),
  // the final name is never created half-written, and the next run writing there removes it.
  test::TempDir dir;
  const std::string out = dir / "big.h5ad";
  std::set<std::string> left;
  for (int attempt = 0; attempt < 5 && left.empty(); ++attempt) {
    pid_t pid = fork();
    if (pid == 0) {
      execl(MARROW_BINARY, MARROW_BINARY, "-q", "simulate", "--cells", "20000", "--genes", "2000", "--out", out.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    while (temporaries(dir.path().string(), true).empty() && waitpid(pid, nullptr, WNOHANG) == 0) usleep(1000);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    left = temporaries(dir.path().string(), true);
    if (left.empty()) fs::remove(out);  // it finished first: try again
  }
  ASSERT_FALSE(left.empty()) << "simulate finished before it could be killed, 5 times";
  EXPECT_FALSE(fs::exists(out)) << "the final name exists after a killed write";
  ASSERT_EQ(run_marrow("-q simulate --cells 100 --genes 100 --out " + (dir / "next.h5ad")).exit_code, 0);
  EXPECT_TRUE(temporaries(dir.path().string()).empty()) << "the killed run's temporary file stayed";
  EXPECT_EQ(listing(dir.path().string()), std::set<std::string>{"next.h5ad"});
}

}  // namespace
}  // namespace marrow
