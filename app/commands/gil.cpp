// `marrow gil plan` and `marrow gil run`: gene-incremental learning of the masked-expression model.
#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>

#include "cli.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/json_util.hpp"
#include "marrow/core/strings.hpp"
#include "marrow/runtime/torch_runtime.hpp"
#include "marrow/workflow/gil.hpp"

namespace marrow::cli {

namespace {

// --data A [B ...] with --labels per file (by position; "-" = none) and one --matrix/--cells for all.
struct Inputs {
  std::vector<std::string> paths, labels;
  std::string matrix = "X", cells;
  std::vector<std::string> stage_classes;  // one comma-separated list per new stage
  std::vector<DataSpec> specs() const {
    if (!labels.empty() && labels.size() != paths.size())
      fail("--labels: give one per --data file ({} files, {} label files); '-' for none", paths.size(), labels.size());
    std::vector<DataSpec> out;
    for (size_t i = 0; i < paths.size(); ++i)
      out.push_back({paths[i], matrix, labels.empty() || labels[i] == "-" ? "" : labels[i], cells});
    return out;
  }
};

void add_inputs(CLI::App& cmd, Inputs& in) {
  cmd.add_option("--data,-d", in.paths, "Input files (.h5ad, 10x .h5 or directory); several for --auto-plan panels, in stage order")->required();
  cmd.add_option("--labels", in.labels, "CSV/TSV of cell labels joined on barcode, one per --data file ('-' for none)");
  cmd.add_option("--matrix", in.matrix, "Matrix of an .h5ad to use: X, raw/X or layers/NAME")->capture_default_str();
  cmd.add_option("--cells", in.cells, "Cell selection applied to every file, e.g. \"cell_type=HSC,Prog\"");
}

// The classes of each markers stage, from one --stage-classes "A,B,C" per stage.
void set_stage_classes(const Inputs& in, gil::PlanOptions& p) {
  p.stage_classes.clear();
  for (const auto& list : in.stage_classes) {
    std::vector<std::string> classes;
    for (const auto& c : split(list, ',')) classes.push_back(std::string(trim(c)));
    p.stage_classes.push_back(classes);
  }
}

void add_plan_options(CLI::App& cmd, Inputs& in, gil::PlanOptions& p) {
  cmd.add_option("--auto-plan", p.spec, "Build the plan: random, markers:COLUMN (with --stage-classes) or panels (one stage per --data file)")
      ->capture_default_str();
  cmd.add_option("--base-ratio", p.base_ratio, "random: share of the genes that are base genes")->capture_default_str();
  cmd.add_option("--stages", p.stages, "random: new-gene stages after the base stage")->capture_default_str();
  cmd.add_option("--cell-shares", p.cell_shares, "Share of the training cells per stage (default 0.5 for the base stage, the rest even)")
      ->delimiter(',');
  cmd.add_option("--stage-classes", in.stage_classes,
                 "markers: given once per new stage, the comma-separated classes whose separating genes it learns");
  cmd.add_option("--genes-per-stage", p.genes_per_stage, "markers: genes per new stage")->capture_default_str();
  cmd.add_option("--min-cells", p.min_cells, "Leave out genes expressed in fewer training cells")->capture_default_str();
  cmd.add_option("--probe-label", p.probe_label, "Stages without a task get a linear-probe task on this column");
  cmd.add_option("--max-cells", p.max_cells, "Per file, a seeded sample of this many non-held-out cells (0: all)")->capture_default_str();
  add_split_options(cmd, p.holdout, false);
  p.holdout.test_fraction = 0.2;
}

// --strategies A,B,...: a comma-separated list, each name parsed here, once.
void add_strategies_option(CLI::App& cmd, std::vector<gil::Strategy>& strategies) {
  std::string defaults;
  for (gil::Strategy s : strategies) defaults += (defaults.empty() ? "" : ",") + std::string(enum_name(s));
  cmd.add_option_function<std::string>(
         "--strategies",
         [&strategies](const std::string& list) {
           strategies.clear();
           for (const auto& name : split(list, ',')) strategies.push_back(parse_enum<gil::Strategy>(trim(name)));
         },
         "Comma-separated: " + enum_choices<gil::Strategy>())
      ->default_str(defaults);
}

// The gene model and its masking.
void add_model_options(CLI::App& cmd, workflow::GilOptions& o) {
  cmd.add_option("--dim", o.model.dim, "Width of gene tokens, queries and latents")->capture_default_str()->check(CLI::PositiveNumber);
  cmd.add_option("--latents", o.model.latents, "Rows of the latent array")->capture_default_str()->check(CLI::PositiveNumber);
  cmd.add_option("--heads", o.model.heads, "Attention heads")->capture_default_str()->check(CLI::PositiveNumber);
  cmd.add_option("--layers", o.model.layers, "Latent self-attention layers")->capture_default_str()->check(CLI::NonNegativeNumber);
  add_enum_option(cmd, "--loss", o.model.loss, "Loss: mse of log-normalised values, or poisson or nb of counts");
  cmd.add_option("--max-tokens", o.masking.max_tokens, "Keep a cell's most expressed genes up to this many (0: all)")->capture_default_str();
  cmd.add_option("--mask-fraction", o.masking.mask_fraction, "Share of a cell's expressed genes masked in training")->capture_default_str();
  cmd.add_option("--unexpressed-ratio", o.masking.unexpressed_ratio, "Unexpressed genes queried per masked gene")->capture_default_str();
}

// How new genes start, and the settings of replay, distillation, EWC and scoring.
void add_strategy_options(CLI::App& cmd, workflow::GilOptions& o) {
  add_enum_option(cmd, "--init", o.init, "How new gene rows start: at random, at the mean of the known rows, or from co-expression");
  cmd.add_option("--replay-size", o.replay_size, "Replay buffer: cells of earlier stages")->capture_default_str();
  add_enum_option(cmd, "--replay-selection", o.replay_selection,
                  "Which earlier cells the replay buffer keeps: stage-balanced at random, a reservoir sample, or class-balanced (needs --label)");
  cmd.add_option("--label", o.label, "class_balanced replay: the obs column whose classes share the buffer");
  cmd.add_option("--distill-lambda", o.distill_lambda, "Weight of the distillation loss")->capture_default_str();
  cmd.add_option("--distill-queries", o.distill_queries, "Old genes queried per cell for distillation")->capture_default_str();
  cmd.add_option("--ewc-lambda", o.ewc_lambda, "Weight of the EWC penalty")->capture_default_str();
  cmd.add_option("--fisher-cells", o.fisher_cells, "Cells of a finished stage its Fisher information is estimated on")->capture_default_str();
  cmd.add_option("--eval-cells", o.eval_cells, "Held-out cells scored per gene set (a seeded sample)")->capture_default_str();
  cmd.add_option("--eval-mask-fraction", o.eval_mask_fraction, "Share of a held-out cell's expressed genes of a set masked for scoring")
      ->capture_default_str();
  cmd.add_option("--probe-cells", o.probe_cells, "Training cells that fit each linear probe")->capture_default_str();
}

void add_gil_plan(CLI::App& gil) {
  auto in = std::make_shared<Inputs>();
  auto p = std::make_shared<gil::PlanOptions>();
  auto out = std::make_shared<std::string>();
  auto* cmd = gil.add_subcommand("plan", "Write a stage plan (base genes, stage gene sets, cells per stage, held-out cells) as JSON");
  add_inputs(*cmd, *in);
  add_plan_options(*cmd, *in, *p);
  cmd->add_option("--out,-o", *out, "Plan file (.json)")->required();
  cmd->callback([in, p, out] {
    set_stage_classes(*in, *p);
    gil::StagePlan plan = workflow::gil_plan(in->specs(), *p, *out);
    for (const auto& s : plan.stages)
      spdlog::info("stage '{}': {} genes of its own, {} cells{}", s.name, s.genes.size(), s.cells.size(),
                   s.task ? fmt::format(", probe task {}", s.task->column) : "");
    spdlog::info("wrote {} ({} base genes, {} stages)", *out, plan.base_genes.size(), plan.stages.size());
  });
}

void add_gil_report(CLI::App& gil) {
  auto dir = std::make_shared<std::string>();
  auto* cmd = gil.add_subcommand("report", "Recompute the metrics, tables and plot of a gil run from its results.json");
  cmd->add_option("dir", *dir, "The run's output directory")->required();
  cmd->callback([dir] {
    workflow::gil_report(*dir);
    spdlog::info("rewrote {}/results.json, results.md and forgetting.svg", *dir);
  });
}

void add_gil_run(CLI::App& gil) {
  auto in = std::make_shared<Inputs>();
  auto o = std::make_shared<workflow::GilOptions>();
  o->train.epochs = 5;
  o->train.batch_size = 64;
  auto no_fwt = std::make_shared<bool>(false), no_models = std::make_shared<bool>(false);
  auto* cmd = gil.add_subcommand("run", "Train every strategy over the plan's stages and score forgetting on held-out cells");
  add_inputs(*cmd, *in);
  cmd->add_option("--plan", o->plan, "A plan file (from gil plan or written by hand); else --auto-plan builds one");
  add_plan_options(*cmd, *in, o->auto_plan);
  add_strategies_option(*cmd, o->strategies);
  cmd->add_option("--seeds", o->seeds, "Runs per strategy (seeds --seed, --seed + 1, ...)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--epochs", o->train.epochs, "Epochs per stage")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--batch-size", o->train.batch_size, "Cells per batch")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--lr", o->train.learning_rate, "Peak learning rate per stage (AdamW, warm-up then cosine decay)")->capture_default_str();
  cmd->add_option("--weight-decay", o->train.weight_decay, "AdamW weight decay")->capture_default_str();
  cmd->add_option("--device", o->train.device, "Train on cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_flag("--bf16", o->train.bf16, "bfloat16 autocast of the forward pass on CUDA");
  cmd->parse_complete_callback([o] { runtime::check_training_device(o->train.device, o->train.bf16); });
  add_model_options(*cmd, *o);
  add_strategy_options(*cmd, *o);
  cmd->add_flag("--no-forward-transfer", *no_fwt, "Skip training each later stage from scratch (the forward-transfer reference)");
  cmd->add_flag("--no-save-models", *no_models, "Do not save each stage's model under OUT/models");
  cmd->add_option("--out,-o", o->out, "Output directory (plan.json, results.json, results.md, forgetting.svg, models/)")->required();
  cmd->callback([in, o, no_fwt, no_models] {
    o->data = in->specs();
    set_stage_classes(*in, o->auto_plan);
    o->seed = o->auto_plan.holdout.seed;
    o->forward_transfer = !*no_fwt;
    o->save_models = !*no_models;
    nlohmann::json r = workflow::gil_run(*o);
    record_result(r);
    std::cout << "method\taverage_forgetting\tmean_final_mse\n";
    for (const auto& [name, s] : r["summary"].items())
      std::cout << name << '\t' << s["average_forgetting"]["mean"].dump() << '\t' << s["mean_final_mse"]["mean"].dump() << '\n';
    spdlog::info("wrote {}/results.json, results.md and forgetting.svg", o->out);
  });
}

}  // namespace

void add_gil_command(CLI::App& app) {
  auto* gil = app.add_subcommand("gil", "Gene-incremental learning: grow the gene model's vocabulary stage by stage without forgetting");
  gil->require_subcommand(1);
  add_gil_plan(*gil);
  add_gil_report(*gil);
  add_gil_run(*gil);
}

}  // namespace marrow::cli
