// Replays a fixed, seeded set of >= 500 damaged inputs (tests/fuzz/mutate.py: byte flips, zeroed
// blocks, truncation and header edits of the fixtures and of a small model trained here) through
// what `marrow inspect` and `marrow embed` run, and asserts every outcome is a clean read or one
// marrow::Error line (the CLI's exit 2): never a signal, never another exception (exit 1), never
// past the per-file time limit. Each file runs in a fork()ed child, two at a time, so one test
// pays LibTorch's start-up once instead of 500 times.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>

#include "marrow/core/error.hpp"
#include "marrow/report/inspect.hpp"
#include "marrow/workflow/embed.hpp"
#include "support.hpp"

namespace marrow::test {
namespace {

constexpr unsigned kSecondsPerFile = 30;

struct Mutant {
  std::string name, kind, source, mutation;
};

std::vector<Mutant> read_manifest(const std::string& path) {
  std::vector<Mutant> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::stringstream s(line);
    Mutant m;
    std::getline(s, m.name, '\t');
    std::getline(s, m.kind, '\t');
    std::getline(s, m.source, '\t');
    std::getline(s, m.mutation, '\t');
    out.push_back(m);
  }
  return out;
}

// In the child: 0 read cleanly, 2 a one-line marrow::Error naming the file, 3 an error that is
// not one line or does not name the file, 1 any other exception.
[[noreturn]] void replay(const std::string& dir, const Mutant& m, const std::string& data, const std::string& out) {
  alarm(kSecondsPerFile);  // SIGALRM ends a hang as a signal, which the parent reports
  std::freopen("/dev/null", "w", stderr);
  std::string path = dir + "/" + m.name;
  try {
    if (m.kind == "marrow") {
      workflow::EmbedOptions options;
      options.model = path;
      options.data.path = data;
      options.out = out;
      workflow::embed(options);
    } else {
      report::inspect(path);
    }
  } catch (const Error& e) {
    std::string what = e.what();
    bool one_line = what.find('\n') == std::string::npos && what.find(m.name) != std::string::npos;
    std::fprintf(stdout, "%s\t%s\n", m.name.c_str(), what.c_str());
    std::fflush(stdout);
    _exit(one_line ? 2 : 3);
  } catch (const std::exception& e) {
    std::fprintf(stdout, "%s\tOTHER: %s\n", m.name.c_str(), e.what());
    std::fflush(stdout);
    _exit(1);
  }
  _exit(0);
}

TEST(FuzzReplay, MutatedInputsExitCleanly) {
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "/usr/bin/python3 not available; skipping";
  TempDir dir;
  std::string marrow = MARROW_BINARY;
  std::string sim = dir / "sim.h5ad", model = dir / "model.marrow";
  ASSERT_EQ(run_marrow("simulate --cells 200 --genes 100 --seed 15 --out " + sim).exit_code, 0);
  auto trained = run_marrow("pretrain ae --data " + sim + " --epochs 1 --hidden 32 --latent 8 --out " + model);
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  std::string mutants = dir / "mutants";
  std::string command = "/usr/bin/python3 " + std::string(MARROW_SOURCE_DIR) + "/tests/fuzz/mutate.py --fixtures " +
                        MARROW_SOURCE_DIR + "/tests/fixtures --model " + model + " --out " + mutants + " --seed 15";
  ASSERT_EQ(std::system((command + " >/dev/null").c_str()), 0) << command;
  std::vector<Mutant> all = read_manifest(mutants + "/manifest.tsv");
  ASSERT_GE(all.size(), 500u);

  std::map<pid_t, size_t> running;
  std::map<std::string, int> outcomes;
  std::vector<std::string> failures;
  auto reap = [&] {
    int status = 0;
    pid_t pid = wait(&status);
    const Mutant& m = all[running.at(pid)];
    running.erase(pid);
    std::string what = WIFSIGNALED(status) ? std::string("signal ") + strsignal(WTERMSIG(status))
                       : WEXITSTATUS(status) == 0 ? "read"
                       : WEXITSTATUS(status) == 2 ? "error"
                                                  : "exit " + std::to_string(WEXITSTATUS(status));
    ++outcomes[m.kind + " " + what];
    if (what != "read" && what != "error")
      failures.push_back(m.name + " (" + m.source + ", " + m.mutation + "): " + what);
  };
  for (size_t i = 0; i < all.size(); ++i) {
    if (running.size() == 2) reap();
    std::fflush(stdout);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) replay(mutants, all[i], sim, dir / ("embedded-" + std::to_string(i) + ".h5ad"));
    running[pid] = i;
  }
  while (!running.empty()) reap();
  for (const auto& [outcome, n] : outcomes) std::printf("  %-28s %d\n", outcome.c_str(), n);
  for (const auto& f : failures) ADD_FAILURE() << f;
}

}  // namespace
}  // namespace marrow::test
