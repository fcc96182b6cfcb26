#include <spdlog/spdlog.h>

#include <memory>

#include "cli.hpp"
#include "marrow/core/json_util.hpp"
#include "marrow/core/strings.hpp"

namespace marrow::cli {

void add_split_command(CLI::App& app) {
  struct Options {
    DataSpec data;
    std::string by = "random";
    double test_fraction = 0.3, validation_fraction = 0.0;
    uint64_t seed = 0;
    std::string test_groups, stratify, out;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("split", "Make a seeded train/validation/test split of cells and save it as JSON");
  add_data_options(*cmd, o->data);
  cmd->add_option("--by", o->by, "random, stratified:COLUMN or group:COLUMN (whole groups held out)")->capture_default_str();
  cmd->add_option("--test-fraction", o->test_fraction, "Share of cells held out for testing")->capture_default_str();
  cmd->add_option("--validation-fraction", o->validation_fraction, "Share of the rest kept for validation")->capture_default_str();
  cmd->add_option("--test-groups", o->test_groups, "group split: hold out exactly these groups (comma-separated)");
  cmd->add_option("--stratify", o->stratify, "group split: draw held-out groups within each value of COLUMN (e.g. condition)");
  cmd->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  cmd->add_option("--out,-o", o->out, "Output JSON")->required();
  cmd->callback([o] {
    AnnData data = workflow::load_cells(o->data);
    SplitOptions options = parse_split_spec(o->by);
    options.test_fraction = o->test_fraction;
    options.validation_fraction = o->validation_fraction;
    options.seed = o->seed;
    options.stratify = o->stratify;
    if (!o->test_groups.empty()) options.test_groups = split(o->test_groups, ',');
    Split s = make_split(data.obs, options);
    write_json_file(o->out, s.to_json());
    spdlog::info("{}; saved to {}", s.summary(), o->out);
  });
}

}  // namespace marrow::cli
