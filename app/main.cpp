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
  return finish(run(argc, argv, torch_program_commands(), [](int threads) { marrow::runtime::configure_threads(threads); }));
}
