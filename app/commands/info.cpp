#include <iostream>
#include <memory>

#include "cli.hpp"
#include "marrow/report/about.hpp"

namespace marrow::cli {

void add_info_command(CLI::App& app) {
  struct Options {
    bool json = false;
    int matmul = 0;
    int repeats = 5;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("info", "Versions, BLAS kernel in use, threads");
  cmd->add_flag("--json", o->json, "Print JSON");
  cmd->add_option("--matmul", o->matmul, "Also time an N x N float32 matmul (e.g. 2048)")->check(CLI::Range(0, 16384));
  cmd->add_option("--repeats", o->repeats, "Matmul repetitions (best is reported)")->check(CLI::Range(1, 1000));
  cmd->callback([o] {
    nlohmann::json info = report::about(o->matmul, o->repeats);
    std::cout << (o->json ? info.dump(2) + "\n" : report::format_about(info));
  });
}

}  // namespace marrow::cli
