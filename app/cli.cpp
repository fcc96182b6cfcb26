#include "cli.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <iostream>
#include <utility>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/version.hpp"

namespace marrow::cli {

void add_data_options(CLI::App& command, DataSpec& spec, bool data_required) {
  auto* data = command.add_option("--data,-d", spec.path, "Input: .h5ad, 10x .h5, or 10x matrix directory");
  if (data_required) data->required();
  command.add_option("--matrix", spec.matrix, "Matrix of an .h5ad to use: X, raw/X or layers/NAME")->capture_default_str();
  command.add_option("--labels", spec.labels, "CSV/TSV of cell labels joined on barcode");
  command.add_option("--cells", spec.cells, "Cell selection, e.g. \"cell_type=HSC,Prog;condition=AML\"");
}

namespace {

// --split/--split-file/--stratify/--test-fraction/--seed; `use` says what the command reads of the split.
void add_split_choice(CLI::App& command, SplitChoice& choice, const std::string& use, const std::string& seed_help) {
  auto* spec = command.add_option("--split", choice.spec, use + " a new split: random, stratified:COL, group:COL");
  if (!choice.spec.empty()) spec->capture_default_str();
  auto* file = command.add_option("--split-file", choice.file, use + " a saved split (JSON, from marrow split)");
  spec->excludes(file);
  // A saved split replaces the command's default split kind.
  file->each([&choice](const std::string&) { choice.spec.clear(); });
  command.add_option("--stratify", choice.stratify, "With --split group:COL: hold out groups within each value of this column");
  command.add_option("--test-fraction", choice.test_fraction, "With --split: held-out share (of groups for group:COL)")
      ->capture_default_str();
  command.add_option("--seed", choice.seed, seed_help)->capture_default_str();
}

}  // namespace

void add_split_options(CLI::App& command, SplitChoice& choice, bool validation) {
  add_split_choice(command, choice, "Train on the training part of", "Random seed (split, initialisation, batches)");
  if (validation)
    command.add_option("--validation-fraction", choice.validation_fraction,
                       "Training cells kept aside for early stopping when the split has no validation part")
        ->capture_default_str();
}

void add_part_options(CLI::App& command, SplitChoice& choice, Part& part, const std::string& seed_help) {
  add_split_choice(command, choice, "Read one --part of", seed_help);
  add_enum_option(command, "--part", part, "With --split or --split-file: the part read");
}

void add_stream_options(CLI::App& command, bool& stream, StreamOptions& options, bool training, const std::string& what) {
  auto* flag = command.add_flag("--stream", stream, what);
  command.add_option("--chunk-cells", options.chunk_cells, "With --stream: rows read at a time")
      ->capture_default_str()->check(CLI::PositiveNumber)->needs(flag);
  if (training)
    command.add_option("--shuffle-buffer", options.shuffle_buffer, "With --stream: cells held for shuffling (over all ranks)")
        ->capture_default_str()->check(CLI::PositiveNumber)->needs(flag);
}

namespace {

// Options naming files a command reads, and files it writes anew.
constexpr std::array kInputOptions = {"--data", "--labels", "--model", "--split-file", "--apply", "--plan", "--markers-from", "--compare"};
constexpr std::array kOutputOptions = {"--out", "--metrics", "--save-preprocessor", "--save-split", "--checkpoint"};
// Commands whose --out may be their --data: the whole input with columns added, written as a copy
// and renamed (workflow::write_results checks the cases that would write a subset instead).
constexpr std::array kAddingCommands = {"embed", "predict"};

std::vector<std::string> given(const CLI::App& command, const char* name) {
  const CLI::Option* option = command.get_option_no_throw(name);
  return option ? option->results() : std::vector<std::string>{};
}

// Refuses, before any work, an output that is one of the command's inputs (also via another path).
void refuse_outputs_over_inputs(const CLI::App& command) {
  const bool adds = std::find(kAddingCommands.begin(), kAddingCommands.end(), command.get_name()) != kAddingCommands.end();
  for (const char* output : kOutputOptions) {
    std::vector<std::string> inputs;
    for (const char* input : kInputOptions)
      if (!(adds && std::string(output) == "--out" && std::string(input) == "--data"))
        for (const std::string& path : given(command, input)) inputs.push_back(path);
    for (const std::string& out : given(command, output)) check_not_an_input(out, inputs);
  }
  for (const CLI::App* sub : command.get_subcommands()) refuse_outputs_over_inputs(*sub);
}

}  // namespace

namespace {

nlohmann::json& last_result() {
  static nlohmann::json result;
  return result;
}

// Where a failure's message goes: standard error as "marrow: error: ...", or the caller's string.
void report(std::string* error, const char* prefix, const std::string& message) {
  if (error) *error = message;
  else std::cerr << "marrow: " << prefix << message << "\n";
}

}  // namespace

// run() may be called many times by a program embedding it, which may have installed its own
// logger under the name "marrow" (then that one stays).
void use_marrow_logger() {
  auto logger = spdlog::get("marrow");
  if (!logger) {
    logger = spdlog::stderr_color_mt("marrow");
    logger->set_pattern("%^[%l]%$ %v");
  }
  spdlog::set_default_logger(logger);
}

void record_result(nlohmann::json result) { last_result() = std::move(result); }

nlohmann::json take_result() { return std::exchange(last_result(), nlohmann::json()); }

int run(int argc, char** argv, std::span<const Registration> commands, void (*set_threads)(int), std::string* error) {
  last_result() = nlohmann::json();
  CLI::App app{"marrow: single-cell foundation models in one native binary", "marrow"};
  app.set_version_flag("--version", std::string("marrow ") + kVersion);
  app.require_subcommand(1);
  app.fallthrough();  // global options (--threads, -q, -v) may follow the command name too
  int threads = 0;
  bool verbose = false, quiet = false;
  app.add_option("--threads", threads, "Compute threads (default: all cores)");
  app.add_flag("--verbose,-v", verbose, "Debug logging");
  app.add_flag("--quiet,-q", quiet, "Warnings and errors only");
  for (Registration add : commands) add(app);

  use_marrow_logger();
  app.parse_complete_callback([&] {
    spdlog::set_level(quiet ? spdlog::level::warn : verbose ? spdlog::level::debug : spdlog::level::info);
    set_threads(threads);
    refuse_outputs_over_inputs(app);
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (error) *error = e.what();
    else app.exit(e);
    return 2;
  } catch (const Error& e) {
    report(error, "error: ", e.what());
    return 2;
  } catch (const std::exception& e) {
    report(error, "internal error: ", e.what());
    return 1;
  }
  return 0;
}

int finish(int code) {
  if (code == 0) return 0;
  // A failed run ends here without the libraries' exit handlers: after a failed write (disk full)
  // HDF5 keeps the file it could not close and its atexit clean-up crashes on it (SIGSEGV in
  // H5_term_library). Every object of the run has been destroyed by now (temporary files removed);
  // only the streams need flushing.
  std::cout.flush();
  std::cerr.flush();
  std::_Exit(code);
}

}  // namespace marrow::cli
