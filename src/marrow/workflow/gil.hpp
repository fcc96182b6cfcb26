#pragma once
// The scripts of `marrow gil plan`, `gil run` and `gil report`: load the inputs, build or read the
// stage plan (gil/plan.hpp), run each strategy and seed over one Setup (gil/strategies.hpp) and write
// the results with their report (report/gil_report.hpp). The strategies themselves are described in
// gil/options.hpp and docs/gil.md.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "marrow/data/data_spec.hpp"
#include "marrow/gil/options.hpp"
#include "marrow/gil/plan.hpp"

namespace marrow::workflow {

// What `gil run` trains and scores (the RunOptions every strategy shares), on which inputs and plan,
// with which strategies and seeds, and where it writes.
struct GilOptions : gil::RunOptions {
  std::vector<DataSpec> data;            // the inputs, in the plan's file order
  std::string plan;                      // a plan file; empty: build one with auto_plan
  gil::PlanOptions auto_plan;
  std::vector<gil::Strategy> strategies = {gil::Strategy::Finetune, gil::Strategy::Replay, gil::Strategy::Distill,
                                           gil::Strategy::Ewc,      gil::Strategy::Joint,  gil::Strategy::ReplayDistill};
  int seeds = 1;                         // runs per strategy, with seeds seed, seed + 1, ...
  bool forward_transfer = true;          // also train each later stage from scratch (forward transfer)
  bool save_models = true;               // DIR/models/STRATEGY_seedS_stageK.marrow
  std::string out;                       // directory
};

// Runs everything, writes DIR/plan.json, DIR/results.json, DIR/results.md and DIR/forgetting.svg,
// and returns the results.
nlohmann::json gil_run(const GilOptions& options);

// `marrow gil report DIR`: derives every metric (forgetting, transfer, probe changes, means and
// intervals over seeds) from the raw MSE and probe matrices of DIR/results.json and rewrites
// results.json, results.md and forgetting.svg in `dir` (gil_run ends the same way).
nlohmann::json gil_report(const std::string& dir);

// `marrow gil plan`: builds a plan from the data and writes it (JSON).
gil::StagePlan gil_plan(const std::vector<DataSpec>& data, const gil::PlanOptions& options, const std::string& out);

}  // namespace marrow::workflow
