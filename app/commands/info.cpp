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
    record_result(info);
  });
}

std::vector<Registration> torch_program_commands() {
  std::vector<Registration> commands{add_info_command};
  commands.insert(commands.end(), std::begin(kTorchFreeCommands), std::end(kTorchFreeCommands));
  commands.insert(commands.end(), {add_pretrain_command, add_embed_command, add_classify_command, add_zeroshot_command,
                                   add_genes_command, add_impute_command, add_finetune_command,
                                   add_embedding_metrics_command, add_gil_command, add_demo_command, add_run_command,
                                   add_cv_command});
  return commands;
}

}  // namespace marrow::cli
