#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>

#include "cli.hpp"
#include "marrow/core/json_util.hpp"
#include "marrow/report/html.hpp"
#include "marrow/workflow/cv.hpp"
#include "marrow/workflow/demo.hpp"
#include "marrow/workflow/pipeline.hpp"

namespace marrow::cli {

void add_demo_command(CLI::App& app) {
  auto o = std::make_shared<workflow::DemoOptions>();
  auto* cmd = app.add_subcommand("demo", "Run the whole pipeline on embedded simulated data");
  cmd->add_option("--out,-o", o->out_dir, "Output directory")->capture_default_str();
  cmd->add_option("--cells", o->cells, "Simulated cells")->capture_default_str()->check(CLI::Range(int64_t{100}, int64_t{10000000}));
  cmd->add_option("--genes", o->genes, "Simulated genes")->capture_default_str()->check(CLI::Range(int64_t{200}, int64_t{100000}));
  cmd->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  cmd->callback([o] {
    std::string report = workflow::run_demo(*o);
    record_result({{"out", o->out_dir}, {"report", report}});
    std::cout << "marrow demo finished. Outputs in " << o->out_dir << "/; report: " << report << " (and report.html)\n\n"
              << report::report_tables(report);
  });
}

void add_run_command(CLI::App& app) {
  auto config_path = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("run", "Run the autoencoder pipeline on real files from a JSON config (see configs/)");
  cmd->add_option("config", *config_path, "Pipeline config (JSON)")->required();
  cmd->add_option("--out,-o", *out, "Output directory (overrides the config's)");
  cmd->callback([config_path, out] {
    workflow::PipelineConfig config = workflow::parse_pipeline_config(read_json_file(*config_path), *config_path);
    if (!out->empty()) config.out = *out;
    std::string report = workflow::run_pipeline(config);
    record_result({{"out", config.out}, {"report", report}});
    std::cout << "marrow run finished. Outputs in " << config.out << "/; report: " << report << " (and report.html)\n\n"
              << report::report_tables(report);
  });
}

void add_cv_command(CLI::App& app) {
  auto config_path = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("cv", "Cross-validate a pipeline config over whole patients, with the baselines beside it");
  cmd->add_option("config", *config_path, "Pipeline config (JSON, as for marrow run, with an optional \"cv\" object)")->required();
  cmd->add_option("--out,-o", *out, "Output directory (overrides the config's); a killed run resumes from its finished folds");
  cmd->callback([config_path, out] {
    workflow::CvConfig config = workflow::parse_cv_config(read_json_file(*config_path), *config_path);
    if (!out->empty()) config.pipeline.out = *out;
    nlohmann::json results = workflow::run_cv(config);
    record_result(results);
    std::cout << "marrow cv finished: " << results["folds"].size() << " folds. Outputs in " << config.pipeline.out
              << "/; results.json, results.md\n";
  });
}

}  // namespace marrow::cli
