#include <spdlog/spdlog.h>

#include <memory>

#include "cli.hpp"
#include "marrow/runtime/torch_runtime.hpp"
#include "marrow/workflow/autoencoder.hpp"
#include "marrow/workflow/embed.hpp"

namespace marrow::cli {

void add_training_options(CLI::App& command, train::TrainOptions& train) {
  auto* epochs = command.add_option("--epochs", train.epochs, "Training epochs (at most)")->capture_default_str()->check(CLI::PositiveNumber);
  auto* min_steps = command.add_option("--min-steps", train.min_steps,
                                       "With the default epochs: raise them on small data to train at least this many "
                                       "optimizer steps (an explicit --epochs is kept; 0: off)")
                        ->capture_default_str()
                        ->check(CLI::NonNegativeNumber);
  command.add_option("--batch-size", train.batch_size, "Cells per batch")->capture_default_str()->check(CLI::PositiveNumber);
  command.add_option("--lr", train.learning_rate, "Peak learning rate (AdamW, warm-up then cosine decay)")->capture_default_str();
  command.add_option("--weight-decay", train.weight_decay, "AdamW weight decay")->capture_default_str();
  command.add_option("--patience", train.patience, "Stop after this many epochs without validation improvement (0: never)")
      ->capture_default_str();
  command.add_option("--metrics", train.metrics, "Write per-epoch metrics as JSON lines to this file");
  command.add_option("--checkpoint", train.checkpoint, "Checkpoint file (default: OUT.ckpt), written after every epoch");
  command.add_flag("--resume", train.resume, "Continue from the checkpoint of an interrupted run");
  command.add_option("--stop-after", train.stop_after, "Stop after N epochs of this run, keeping the checkpoint (for --resume)");
  command.add_option("--device", train.device, "Train on cpu, cuda or cuda:N")->capture_default_str();
  command.add_flag("--bf16", train.bf16, "bfloat16 autocast of the forward pass on CUDA (weights and optimizer stay float32)");
  // Checked as soon as the command line is read, before any data is loaded.
  command.parse_complete_callback([&train, epochs, min_steps] {
    if (epochs->count() > 0 && min_steps->count() == 0) train.min_steps = 0;  // the epochs asked for are the epochs run
    runtime::check_training_device(train.device, train.bf16);
  });
}

void add_distributed_options(CLI::App& command, runtime::DistributedOptions& o) {
  command.add_option("--rank", o.rank, "Data-parallel rank of this process (default $RANK)")->capture_default_str();
  command.add_option("--world-size", o.world_size, "Number of data-parallel processes (default $WORLD_SIZE)")->capture_default_str();
  command.add_option("--master-addr", o.master_addr, "Address of rank 0 (default $MASTER_ADDR)")->capture_default_str();
  command.add_option("--master-port", o.master_port, "Port of rank 0's store (default $MASTER_PORT)")->capture_default_str();
  command.add_option("--dist-timeout", o.timeout_seconds, "Seconds to wait for the other ranks before failing")->capture_default_str();
}

void join_distributed(const runtime::DistributedOptions& o, train::TrainOptions& train) {
  o.validate();
  if (!o.enabled()) return;
  train.distributed = runtime::Distributed::connect(o);
  if (!train.distributed->primary()) spdlog::set_level(spdlog::level::warn);
}

namespace {

// `pretrain ae` and `pretrain vae`: one option set, the kind's defaults already in `o`.
void add_autoencoder_subcommand(CLI::App& pretrain, const std::string& name, const std::string& description,
                                std::shared_ptr<workflow::PretrainOptions> o) {
  auto* ae = pretrain.add_subcommand(name, description);
  add_data_options(*ae, o->data);
  add_split_options(*ae, o->split, true);
  ae->add_option("--latent", o->model.latent, "Latent size")->capture_default_str()->check(CLI::PositiveNumber);
  ae->add_option("--hidden", o->model.hidden, "Hidden layer widths, encoder order (decoder mirrors)")->capture_default_str()
      ->delimiter(',');
  add_enum_option(*ae, "--activation", o->model.activation, "Activation after each hidden layer");
  add_enum_option(*ae, "--norm", o->model.norm, "Normalisation of each hidden layer");
  ae->add_option("--dropout", o->model.dropout, "Dropout after each hidden layer")->capture_default_str();
  ae->add_option("--input-dropout", o->model.input_dropout, "Denoising: drop this share of input genes in training")
      ->capture_default_str();
  if (o->model.variational) {
    add_enum_option(*ae, "--loss", o->model.loss, "Count likelihood given library size",
                    {models::ReconstructionLoss::NegativeBinomial, models::ReconstructionLoss::Poisson});
    ae->add_option("--kl-warmup", o->kl_warmup_epochs, "Epochs over which the KL weight rises from 0 to 1")->capture_default_str();
    ae->add_option("--batch-key", o->model.batch_key,
                   "obs column of a batch covariate given to the decoder (not the encoder: embedding needs no batch)");
  } else {
    add_enum_option(*ae, "--loss", o->model.loss,
                    "Reconstruction loss: mse of log-normalised values, or poisson or nb of counts given library size");
  }
  add_enum_option(*ae, "--input-layer", o->input_layer, "First layer's input; auto: sparse when X is sparse enough");
  ae->add_option("--min-cells", o->preprocess.qc.min_cells, "QC: keep genes seen in this many training cells")
      ->capture_default_str();
  ae->add_option("--min-genes", o->preprocess.qc.min_genes, "QC: minimum genes per cell")->capture_default_str();
  ae->add_option("--n-top-genes", o->preprocess.n_top_genes, "With --hvg: genes kept")->capture_default_str();
  add_enum_option(*ae, "--hvg", o->preprocess.hvg, "Input genes: all QC-kept (none) or the highly variable ones by a flavour");
  ae->add_flag("--scale,!--no-scale", o->preprocess.scale, "Standardise input genes (--no-scale: log-normalised only)")
      ->capture_default_str();
  add_training_options(*ae, o->train);
  auto dist = std::make_shared<runtime::DistributedOptions>(runtime::DistributedOptions::from_environment());
  add_distributed_options(*ae, *dist);
  add_stream_options(*ae, o->stream, o->streaming, true,
                     "Out-of-core: read the .h5ad a chunk of rows at a time (memory bounded by the chunk and buffer, not the file)");
  ae->add_option("--out,-o", o->out, "Model file (.marrow)")->required();
  ae->callback([o, dist] {
    join_distributed(*dist, o->train);
    o->train.seed = o->split.seed;
    workflow::PretrainSummary s = workflow::pretrain_autoencoder(*o);
    record_result(workflow::summary_json(s));
    if (s.completed)
      spdlog::info("wrote {} ({} genes; {} training and {} validation cells; best epoch {} of {})", o->out, s.genes,
                   s.train_cells, s.validation_cells, s.best_epoch, s.epochs_run);
  });
}

std::shared_ptr<workflow::PretrainOptions> autoencoder_defaults() {
  auto o = std::make_shared<workflow::PretrainOptions>();
  o->split.validation_fraction = 0.1;
  o->preprocess = workflow::autoencoder_input_defaults();
  return o;
}

}  // namespace

void add_pretrain_command(CLI::App& app) {
  auto* pretrain = app.add_subcommand("pretrain", "Pretrain a foundation model on cells");
  pretrain->require_subcommand(1);
  auto ae = autoencoder_defaults();
  ae->train.batch_size = workflow::autoencoder_batch_size;
  add_autoencoder_subcommand(*pretrain, "ae", "Fully connected autoencoder (3,000 HVG -> 1024 -> 512 -> 256 latent)", ae);
  auto vae = autoencoder_defaults();
  workflow::set_vae_defaults(vae->model, vae->preprocess);
  add_autoencoder_subcommand(*pretrain, "vae",
                             "Variational autoencoder with a negative-binomial likelihood, scVI-like (3,000 HVG -> 128 -> 32 latent)",
                             vae);
  add_pretrain_exceiver_command(*pretrain);
}

void add_embed_command(CLI::App& app) {
  auto o = std::make_shared<workflow::EmbedOptions>();
  auto* cmd = app.add_subcommand("embed", "Embed cells with a pretrained model: obsm['X_marrow']");
  cmd->add_option("--model,-m", o->model, "Model file (.marrow)")->required();
  add_data_options(*cmd, o->data);
  cmd->add_option("--key", o->key, "obsm key of the embedding")->capture_default_str();
  cmd->add_flag("--case-insensitive", o->case_insensitive, "Match gene names ignoring case");
  cmd->add_option("--device", o->device, "Embed on cpu, cuda or cuda:N")->capture_default_str();
  add_stream_options(*cmd, o->stream, o->streaming, false, "Read the .h5ad a chunk of rows at a time (the whole file; no --cells)");
  cmd->parse_complete_callback([o] { runtime::check_device(o->device); });
  cmd->add_option("--out,-o", o->out, "Output .h5ad")->required();
  cmd->callback([o] {
    int64_t n = workflow::embed(*o);
    record_result({{"cells", n}, {"key", o->key}});
    spdlog::info("wrote {} embeddings to {} (obsm['{}'])", n, o->out, o->key);
  });
}

}  // namespace marrow::cli
