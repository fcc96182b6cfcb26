#include "marrow/workflow/gil.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/json_util.hpp"
#include "marrow/core/strings.hpp"
#include "marrow/gil/metrics.hpp"
#include "marrow/gil/strategies.hpp"
#include "marrow/report/gil_report.hpp"
#include "marrow/models/token_input.hpp"
#include "marrow/workflow/prepare.hpp"

namespace marrow::workflow {

namespace {

// The loaded inputs and their paths, in the plan's file order.
struct Inputs {
  std::vector<AnnData> files;
  std::vector<std::string> paths;
  std::vector<const AnnData*> pointers() const {
    std::vector<const AnnData*> p;
    for (const auto& f : files) p.push_back(&f);
    return p;
  }
};

Inputs load_inputs(const std::vector<DataSpec>& data) {
  Inputs in;
  for (const auto& d : data) in.files.push_back(load_cells(d)), in.paths.push_back(d.path);
  return in;
}

void check_options(const GilOptions& o) {
  if (o.out.empty()) fail("gil run: --out is required");
  if (o.data.empty()) fail("gil run: give at least one --data file");
  if (o.seeds < 1) fail("--seeds must be at least 1, got {}", o.seeds);
  if (o.strategies.empty()) fail("--strategies: give at least one");
  gil::check_run_options(o);
}

// The plan, read from o.plan or built from the inputs, checked against them and written to DIR/plan.json.
gil::StagePlan run_plan(const GilOptions& o, const Inputs& in) {
  gil::StagePlan plan = o.plan.empty() ? gil::build_plan(in.pointers(), in.paths, o.auto_plan) : gil::read_plan(o.plan);
  gil::check_plan_against(plan, in.pointers());
  gil::write_plan(plan, o.out + "/plan.json");
  return plan;
}

gil::StageModels stage_models(const GilOptions& o) {
  if (!o.save_models) return {};
  return {o.out + "/models", [target_sum = o.target_sum, masking = o.masking](const models::ExceiverOptions& model, const GeneVocabulary& vocabulary) {
            return models::exceiver_meta(model, vocabulary, target_sum, masking);
          }};
}

nlohmann::json settings_json(const GilOptions& o) {
  std::vector<std::string> strategies;
  for (gil::Strategy s : o.strategies) strategies.emplace_back(enum_name(s));
  return {{"seeds", o.seeds}, {"seed", o.seed}, {"strategies", strategies}, {"model", o.model.to_json()},
          {"epochs_per_stage", o.train.epochs}, {"batch_size", o.train.batch_size}, {"learning_rate", o.train.learning_rate},
          {"init", enum_name(o.init)}, {"replay_size", o.replay_size}, {"replay_selection", enum_name(o.replay_selection)},
          {"distill_lambda", o.distill_lambda}, {"distill_queries", o.distill_queries}, {"ewc_lambda", o.ewc_lambda},
          {"fisher_cells", o.fisher_cells}, {"eval_cells", o.eval_cells}, {"eval_mask_fraction", o.eval_mask_fraction},
          {"mask_fraction", o.masking.mask_fraction}, {"max_tokens", o.masking.max_tokens}};
}

// What was run on: the plan's stages, the gene sets and the probe tasks.
void describe_setup(const gil::Setup& s, const std::vector<std::string>& paths, nlohmann::json& results) {
  nlohmann::json sets = nlohmann::json::array(), stages = nlohmann::json::array(), tasks = nlohmann::json::array();
  for (const auto& set : s.sets) sets.push_back({{"name", set.name}, {"genes", set.size}, {"introduced", set.introduced}});
  for (int k = 0; k < s.plan.n_stages(); ++k)
    stages.push_back({{"name", s.plan.stages[k].name}, {"genes", s.plan.stages[k].genes.size()}, {"cells", s.stage_cells[k].n_cells()}});
  for (const auto& t : s.tasks) tasks.push_back({{"name", t.name}, {"stage", t.stage}});
  results["plan"] = {{"spec", s.plan.spec}, {"files", paths}, {"base_genes", s.plan.base_genes.size()}, {"stages", stages}};
  results["gene_sets"] = sets;
  results["tasks"] = tasks;
}

nlohmann::json run_json(gil::Strategy strategy, uint64_t seed, const gil::RunResult& r) {
  spdlog::info("[{} seed {}] done in {:.0f} s; MSE after the last stage: {}", enum_name(strategy), seed, r.seconds, join_limited([&] {
                 std::vector<std::string> v;
                 for (double x : r.mse.back()) v.push_back(fmt::format("{:.4f}", x));
                 return v;
               }()));
  return {{"strategy", enum_name(strategy)}, {"seed", seed}, {"mse", gil::matrix_json(r.mse)}, {"probe_accuracy", gil::matrix_json(r.probe_accuracy)},
          {"probe_balanced_accuracy", gil::matrix_json(r.probe_balanced)}, {"seconds", r.seconds}};
}

// Every seed: the scratch reference (when asked), then every strategy.
void run_all(gil::Experiment& experiment, const GilOptions& o, nlohmann::json& results) {
  nlohmann::json runs = nlohmann::json::array(), scratch = nlohmann::json::object();
  for (int si = 0; si < o.seeds; ++si) {
    const uint64_t seed = o.seed + static_cast<uint64_t>(si);
    scratch[std::to_string(seed)] = gil::numbers_json(o.forward_transfer ? experiment.scratch_reference(seed) : std::vector<double>{});
    for (gil::Strategy strategy : o.strategies) runs.push_back(run_json(strategy, seed, experiment.run(strategy, seed)));
  }
  results["scratch_mse"] = scratch;
  results["runs"] = runs;
}

}  // namespace

gil::StagePlan gil_plan(const std::vector<DataSpec>& data, const gil::PlanOptions& options, const std::string& out) {
  if (out.empty()) fail("gil plan: --out is required");
  check_output_directory(out);
  Inputs in = load_inputs(data);
  gil::StagePlan plan = gil::build_plan(in.pointers(), in.paths, options);
  gil::write_plan(plan, out);
  return plan;
}

nlohmann::json gil_run(const GilOptions& o) {
  check_options(o);
  std::filesystem::create_directories(o.out);
  Inputs in = load_inputs(o.data);
  gil::Experiment experiment(o, in.files, in.paths, run_plan(o, in), stage_models(o));
  in.files.clear();
  nlohmann::json results = {{"settings", settings_json(o)}};
  describe_setup(experiment.setup(), in.paths, results);
  run_all(experiment, o, results);
  results = report::gil_summary(std::move(results), o.out);
  report::write_gil_report(results, o.out);
  return results;
}

nlohmann::json gil_report(const std::string& dir) {
  nlohmann::json results = report::gil_summary(read_json_file(dir + "/results.json"), dir);
  report::write_gil_report(results, dir);
  return results;
}

}  // namespace marrow::workflow
