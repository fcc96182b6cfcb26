// The torch program, libexec/marrow-torch: every command, the top-level help that lists them all,
// and the torch runtime. `marrow` (app/launcher.cpp) executes it with the BLAS environment already
// set; started directly, it re-executes itself once where that environment is not yet right.
#include <vector>

#include "cli.hpp"
#include "marrow/runtime/allocator.hpp"
#include "marrow/runtime/blas_env.hpp"
#include "marrow/runtime/torch_runtime.hpp"

int main(int argc, char** argv) {
  // Before anything else: OpenBLAS reads its settings only when it is loaded, so this may
  // re-execute the program with the right environment (see runtime/blas_env.hpp).
  marrow::runtime::prepare_blas_environment(argc, argv);
  marrow::runtime::configure_allocator();
  using namespace marrow::cli;
  std::vector<Registration> commands{add_info_command};
  commands.insert(commands.end(), std::begin(kTorchFreeCommands), std::end(kTorchFreeCommands));
  commands.insert(commands.end(), {add_pretrain_command, add_embed_command, add_classify_command, add_zeroshot_command,
                                   add_genes_command, add_impute_command, add_finetune_command,
                                   add_embedding_metrics_command, add_gil_command, add_demo_command, add_run_command,
                                   add_cv_command});
  return finish(run(argc, argv, commands, [](int threads) { marrow::runtime::configure_threads(threads); }));
}
