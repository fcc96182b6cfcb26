// `marrow`, the program users run. It loads no torch: the commands that neither train nor embed
// (cli::kTorchFreeCommands) and --version run here and start in milliseconds. Every other command,
// and the top-level help that lists them all, is handed to the torch program (libexec/marrow-torch)
// by exec, with the BLAS environment set first, so torch is loaded once per command.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>

#include "cli.hpp"
#include "marrow/runtime/allocator.hpp"
#include "marrow/runtime/blas_env.hpp"

namespace {

// The first argument that is not a global option (--threads N, -v, -q): the command's name, or an
// option such as --version or --help; "" where there is none.
std::string first_word(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--threads") {
      ++i;  // its value follows
    } else if (!arg.starts_with("--threads=") && arg != "-v" && arg != "--verbose" && arg != "-q" && arg != "--quiet") {
      return std::string(arg);
    }
  }
  return "";
}

// Whether this command line runs here; anything unsure goes to the torch program, which knows
// every command and so gives the same errors as ever.
bool runs_here(int argc, char** argv) {
  std::string word = first_word(argc, argv);
  if (word == "--version") return true;
  CLI::App probe;
  for (marrow::cli::Registration add : marrow::cli::kTorchFreeCommands) add(probe);
  return !probe.get_subcommands([&word](CLI::App* command) { return command->check_name(word); }).empty();
}

// Beside this program in the build tree (build/libexec), or under PREFIX/libexec/marrow when installed.
std::filesystem::path torch_program() {
  std::filesystem::path dir = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  std::filesystem::path installed = dir.parent_path() / "libexec" / "marrow" / "marrow-torch";
  std::filesystem::path built = dir / "libexec" / "marrow-torch";
  return std::filesystem::exists(built) || !std::filesystem::exists(installed) ? built : installed;
}

[[noreturn]] void exec_torch_program(char** argv) {
  marrow::runtime::set_blas_environment();
  std::filesystem::path program = torch_program();
  execv(program.c_str(), argv);
  std::cerr << "marrow: internal error: " << program.string() << ": " << std::strerror(errno) << "\n";
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  if (!runs_here(argc, argv)) exec_torch_program(argv);
  marrow::runtime::configure_allocator();
  // No torch here and the torch-free commands are single-threaded: --threads has nothing to set.
  return marrow::cli::finish(marrow::cli::run(argc, argv, marrow::cli::kTorchFreeCommands, [](int) {}));
}
