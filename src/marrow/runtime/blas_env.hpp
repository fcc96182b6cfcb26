#pragma once
// BLAS speed is the program's job, not the user's.
//
// Debian's LibTorch calls whatever BLAS the system alternatives select. OpenBLAS 0.3.21 picks its
// kernel once, when the library is loaded, and misdetects some CPUs (a kernel several times slower);
// it honours OPENBLAS_CORETYPE, but only at load time, so the variable has to be in the environment
// before the process starts. The pthread build of OpenBLAS also keeps a thread pool of its own that
// ignores at::set_num_threads and oversubscribes the cores when torch calls BLAS from its OpenMP
// workers; the OpenMP build shares torch's pool instead.
//
// The `marrow` program users run loads no torch; before it hands a command to the torch program
// (libexec/marrow-torch) it calls set_blas_environment(): OPENBLAS_CORETYPE for this CPU, and the
// OpenMP build of OpenBLAS first on the library path when it is installed, so the torch program starts
// right the first time. The torch program's main() calls prepare_blas_environment(), which does the
// same and re-executes it only where it was started directly with the environment not yet right.
// A variable the user set is respected.
#include <string>

namespace marrow::runtime {

// OpenBLAS core type for a CPU described by /proc/cpuinfo text: "SkylakeX" where avx512f is present,
// "Haswell" where avx2 is, otherwise "" (let OpenBLAS decide).
std::string preferred_openblas_coretype(const std::string& cpuinfo);

// Re-executes the process (never returns) when the BLAS environment must change; returns otherwise.
void prepare_blas_environment(int argc, char** argv);

// Sets the environment a torch program about to be executed should start with, and marks it prepared
// (so that program does not re-execute itself). For a process that has loaded no BLAS.
void set_blas_environment();

struct BlasLibraryInfo {
  bool is_openblas = false;
  std::string corename;    // kernel in use, e.g. "SkylakeX" (OpenBLAS only)
  std::string config;      // build configuration string (OpenBLAS only)
  std::string parallel;    // "openmp", "pthread", "sequential" or "unknown"
  std::string library;     // path of the loaded BLAS shared object
  std::string coretype_env;  // OPENBLAS_CORETYPE as this process saw it at start
};

// Describes the BLAS loaded into this process (looked up with dlsym; no link-time dependency).
BlasLibraryInfo blas_library_info();

}  // namespace marrow::runtime
