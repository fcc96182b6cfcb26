#include <cstdlib>
#include <iostream>

#include "cli.hpp"
#include "marrow/runtime/allocator.hpp"
#include "marrow/runtime/blas_env.hpp"

int main(int argc, char** argv) {
  // Before anything else: OpenBLAS reads its settings only when it is loaded, so this may
  // re-execute the program with the right environment (see runtime/blas_env.hpp).
  marrow::runtime::prepare_blas_environment(argc, argv);
  marrow::runtime::configure_allocator();
  const int code = marrow::cli::run(argc, argv);
  if (code != 0) {
    // A failed run ends here without the libraries' exit handlers: after a failed write (disk
    // full) HDF5 keeps the file it could not close and its atexit clean-up crashes on it
    // (SIGSEGV in H5_term_library). Every object of the run has been destroyed by now (temporary
    // files removed); only the streams need flushing.
    std::cout.flush();
    std::cerr.flush();
    std::_Exit(code);
  }
  return 0;
}
