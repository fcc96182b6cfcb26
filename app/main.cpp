#include "cli.hpp"
#include "marrow/runtime/allocator.hpp"
#include "marrow/runtime/blas_env.hpp"

int main(int argc, char** argv) {
  // Before anything else: OpenBLAS reads its settings only when it is loaded, so this may
  // re-execute the program with the right environment (see runtime/blas_env.hpp).
  marrow::runtime::prepare_blas_environment(argc, argv);
  marrow::runtime::configure_allocator();
  return marrow::cli::run(argc, argv);
}
