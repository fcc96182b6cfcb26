#pragma once
// Shared pieces of the command-line layer: one way to declare the data options every command
// takes, the registration functions of the commands, and the parse-and-run both programs share (the
// torch-free `marrow`, app/launcher.cpp, and the torch program libexec/marrow-torch, app/main.cpp).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "marrow/core/enum_names.hpp"
#include "marrow/data/row_stream.hpp"
#include "marrow/runtime/distributed.hpp"
#include "marrow/train/train_options.hpp"
#include "marrow/workflow/prepare.hpp"

namespace marrow::cli {

// An option naming one value of enum E (core/enum_names.hpp): parsed once, here, into `value`;
// the help lists the names and shows the default. `only`, where given, is the values this command
// accepts (the others are refused by name and left out of the help).
template <typename E>
CLI::Option* add_enum_option(CLI::App& command, const std::string& flags, E& value, const std::string& help,
                             std::vector<E> only = {}) {
  auto* option = command.add_option_function<std::string>(
      flags, [&value, only](const std::string& text) { value = parse_enum<E>(text, only); },
      help + " (" + enum_choices<E>(only) + ")");
  option->default_str(enum_name(value));
  return option;
}

// --data/--matrix/--labels/--cells, bound to a DataSpec.
void add_data_options(CLI::App& command, DataSpec& spec, bool data_required = true);

// --split/--split-file/--stratify/--test-fraction/--seed (and --validation-fraction if asked).
void add_split_options(CLI::App& command, SplitChoice& choice, bool validation);

// The same choice for commands that evaluate or apply a model to one part of a split (all cells
// without one), and --part; a new split is drawn exactly as the training command drew it from the
// same --split, --stratify, --test-fraction and --seed.
void add_part_options(CLI::App& command, SplitChoice& choice, Part& part,
                      const std::string& seed_help = "Random seed of the split");

// --epochs/--batch-size/--lr/... shared by every training command.
void add_training_options(CLI::App& command, train::TrainOptions& train);

// --stream and the --chunk-cells (and, where training, --shuffle-buffer) it bounds memory with; the
// sizes are refused without --stream. `what` describes --stream in the help.
void add_stream_options(CLI::App& command, bool& stream, StreamOptions& options, bool training, const std::string& what);

// --rank/--world-size/--master-addr/--master-port/--dist-timeout, defaulting to RANK, WORLD_SIZE,
// MASTER_ADDR and MASTER_PORT (torchrun, Slurm, Kubernetes).
void add_distributed_options(CLI::App& command, runtime::DistributedOptions& options);
// With more than one rank: joins the process group and hands it to the trainer; ranks other than
// 0 log warnings and errors only. (Torch program only, as is add_training_options.)
void join_distributed(const runtime::DistributedOptions& options, train::TrainOptions& train);

void add_info_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_simulate_command(CLI::App& app);
void add_split_command(CLI::App& app);
void add_preprocess_command(CLI::App& app);
void add_demo_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_cv_command(CLI::App& app);
void add_pretrain_command(CLI::App& app);
void add_embed_command(CLI::App& app);
void add_classify_command(CLI::App& app);
void add_zeroshot_command(CLI::App& app);
void add_pretrain_exceiver_command(CLI::App& pretrain);
void add_genes_command(CLI::App& app);
void add_impute_command(CLI::App& app);
void add_finetune_command(CLI::App& app);
void add_embedding_metrics_command(CLI::App& app);
void add_gil_command(CLI::App& app);

// One command's registration: adds its subcommand, options and callback to the app.
using Registration = void (*)(CLI::App&);

// The commands that neither train nor embed: the torch-free `marrow` runs them itself, and the torch
// program lists them among the others.
inline constexpr Registration kTorchFreeCommands[] = {add_inspect_command, add_simulate_command, add_split_command,
                                                      add_preprocess_command};

// Every command of the torch program, in the order of its help (main.cpp; the Python module).
std::vector<Registration> torch_program_commands();

// Parses the command line with these commands (in this order in the help) and runs the chosen one;
// returns the exit status. set_threads receives --threads (0: all cores) once the line is parsed.
// Where `error` is given (a program embedding the command line: the Python module), a failure's
// one-line message goes there instead of standard error.
int run(int argc, char** argv, std::span<const Registration> commands, void (*set_threads)(int),
        std::string* error = nullptr);

// Makes the "marrow" logger on standard error the default, creating it once per process (run()
// calls it; a program embedding the command line calls it to go back to standard error).
void use_marrow_logger();

// What the command just run produced (metrics, a summary, results), as JSON, for a program that
// embeds the command line: each command records it beside what it prints; run() clears it first.
void record_result(nlohmann::json result);
nlohmann::json take_result();

// The end of main in both programs: returns 0 after a successful run; after a failed one, exits at
// once with `code` and without the libraries' exit handlers (see cli.cpp).
int finish(int code);

}  // namespace marrow::cli
