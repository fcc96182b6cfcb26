// `marrow pretrain exceiver`, `marrow genes` and `marrow impute`: the masked-expression gene model.
#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>

#include "cli.hpp"
#include "marrow/workflow/classify.hpp"
#include "marrow/workflow/exceiver.hpp"

namespace marrow::cli {

void add_pretrain_exceiver_command(CLI::App& pretrain) {
  auto o = std::make_shared<workflow::ExceiverPretrainOptions>();
  o->split.validation_fraction = 0.1;
  workflow::set_cell_embedding_defaults(o->model, o->masking, o->train);
  auto* cmd = pretrain.add_subcommand("exceiver", "Masked-expression gene model (Exceiver-style Perceiver IO): genes are tokens");
  cmd->add_option("--data,-d", o->files, "Input files (.h5ad, 10x .h5 or 10x directory); the vocabulary is the union of their genes")
      ->required();
  cmd->add_option("--matrix", o->data.matrix, "Matrix of an .h5ad to use: X, raw/X or layers/NAME")->capture_default_str();
  cmd->add_option("--labels", o->data.labels, "CSV/TSV of cell labels joined on barcode");
  cmd->add_option("--cells", o->data.cells, "Cell selection applied to every file, e.g. \"cell_type=HSC,Prog\"");
  add_split_options(*cmd, o->split, true);
  cmd->add_option("--dim", o->model.dim, "Width of gene tokens, queries and latents")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--latents", o->model.latents, "Rows of the latent array")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--heads", o->model.heads, "Attention heads")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--layers", o->model.layers, "Latent self-attention layers")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--ff-mult", o->model.ff_mult, "Feed-forward width as a multiple of dim")->capture_default_str();
  cmd->add_option("--dropout", o->model.dropout, "Dropout in attention and feed-forward layers")->capture_default_str();
  add_enum_option(*cmd, "--values", o->model.value_mode, "Token values: gene embedding x value, plus a learned projection of it, or the normalised embedding x value seen un-normalised by the encoder");
  add_enum_option(*cmd, "--loss", o->model.loss, "Loss: mse of log-normalised values, or poisson or nb of counts given library size");
  cmd->add_option("--cell-decoding", o->model.cell_decoding,
                  "Weight of predicting the query genes from the pooled cell embedding alone (0: off)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--contrastive", o->model.contrastive,
                  "Weight of the contrastive loss between each cell and a view of half its tokens (0: off)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-tokens", o->masking.max_tokens, "Keep a cell's most expressed genes up to this many (0: all)")
      ->capture_default_str();
  cmd->add_option("--mask-fraction", o->masking.mask_fraction, "Share of a cell's expressed genes masked and predicted")
      ->capture_default_str();
  cmd->add_option("--unexpressed-ratio", o->masking.unexpressed_ratio, "Unexpressed genes queried per masked gene")
      ->capture_default_str();
  cmd->add_option("--target-sum", o->target_sum, "Library-size normalisation target")->capture_default_str();
  add_training_options(*cmd, o->train);
  auto dist = std::make_shared<runtime::DistributedOptions>(runtime::DistributedOptions::from_environment());
  add_distributed_options(*cmd, *dist);
  add_stream_options(*cmd, o->stream, o->streaming, true,
                     "Out-of-core (one .h5ad): read a chunk of rows at a time (memory bounded by the chunk and buffer, not the file)");
  cmd->add_option("--out,-o", o->out, "Model file (.marrow)")->required();
  cmd->callback([o, dist] {
    join_distributed(*dist, o->train);
    o->train.seed = o->split.seed;
    workflow::PretrainSummary s = workflow::pretrain_exceiver(*o);
    record_result(workflow::summary_json(s));
    if (s.completed)
      spdlog::info("wrote {} ({} genes; {} training and {} validation cells; best epoch {} of {})", o->out, s.genes, s.train_cells,
                   s.validation_cells, s.best_epoch, s.epochs_run);
    else
      spdlog::info("stopped after epoch {} as asked; continue with --resume", s.epochs_run);
  });
}

void add_genes_command(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto markers = std::make_shared<workflow::MarkerOptions>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("genes", "Gene embeddings of a gene model: TSV (gene, dim0, ...) or .h5ad (varm['X_marrow']); "
                                          "with --markers-from, how well they group marker genes");
  cmd->add_option("--model,-m", *model, "Model file (.marrow, exceiver)")->required();
  cmd->add_option("--out,-o", *out, "Output .tsv or .h5ad");
  cmd->add_option("--markers-from", markers->data.path, "Labelled cells to find marker genes in (training part of the split)");
  cmd->add_option("--matrix", markers->data.matrix, "With --markers-from: matrix of an .h5ad")->capture_default_str();
  cmd->add_option("--labels", markers->data.labels, "With --markers-from: CSV/TSV of cell labels joined on barcode");
  cmd->add_option("--cells", markers->data.cells, "With --markers-from: cell selection");
  cmd->add_option("--label", markers->label, "With --markers-from: obs column of cell types");
  cmd->add_option("--split-file", markers->split.file, "With --markers-from: markers from this split's training part");
  cmd->add_option("--top", markers->top, "Marker genes per type")->capture_default_str();
  cmd->add_option("--neighbours", markers->neighbours, "Nearest markers checked per marker")->capture_default_str();
  cmd->add_flag("--json", *json, "With --markers-from: print JSON");
  cmd->callback([model, out, markers, json] {
    if (out->empty() && markers->data.path.empty()) throw CLI::ValidationError("genes", "give --out, --markers-from, or both");
    if (!out->empty()) {
      int64_t n = workflow::write_gene_embeddings(*model, *out);
      spdlog::info("wrote {} gene embeddings to {}", n, *out);
    }
    if (markers->data.path.empty()) return;
    markers->model = *model;
    nlohmann::json m = workflow::marker_neighbourhoods(*markers);
    record_result(m);
    if (*json) {
      std::cout << m.dump(2) << "\n";
      return;
    }
    std::cout << fmt::format("{} markers: {:.3f} of each marker's {} nearest markers mark the same type; shuffled types: {:.3f} +- {:.3f}\n",
                             m["markers"].get<int64_t>(), m["same_type_fraction"].get<double>(), m["neighbours"].get<int64_t>(),
                             m["random_same_type_fraction"].get<double>(), m["random_sd"].get<double>());
  });
}

void add_impute_command(CLI::App& app) {
  auto o = std::make_shared<workflow::ImputeOptions>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("impute", "Mask expressed genes, predict them, and compare with gene-mean and kNN baselines");
  cmd->add_option("--model,-m", o->model, "Model file (.marrow, exceiver)")->required();
  add_data_options(*cmd, o->data);
  add_part_options(*cmd, o->split, o->part, "Random seed (split, masks, cell sample)");
  cmd->add_option("--mask-fraction", o->mask_fraction, "Share of each cell's expressed genes masked")->capture_default_str();
  cmd->add_option("--max-cells", o->max_cells, "Evaluate a seeded sample of at most this many cells (0: all)")->capture_default_str();
  cmd->add_option("--neighbours", o->neighbours, "kNN baseline: nearest cells averaged")->capture_default_str();
  cmd->add_flag("--case-insensitive", o->case_insensitive, "Match gene names ignoring case");
  cmd->add_option("--compare", o->compare, "An MSE autoencoder (.marrow) to impute the same masked values");
  cmd->add_flag("--json", *json, "Print the metrics as JSON");
  cmd->callback([o, json] {
    nlohmann::json m = workflow::impute(*o);
    record_result(m);
    if (*json) {
      std::cout << m.dump(2) << "\n";
      return;
    }
    std::cout << fmt::format(
        "{} cells, {} masked values\n  model      MSE {:.4f}  Pearson {:.3f}\n  gene mean  MSE {:.4f}  Pearson {:.3f}\n"
        "  kNN        MSE {:.4f}  Pearson {:.3f}\n",
        m["n_cells"].get<int64_t>(), m["n_masked"].get<int64_t>(), m["mse"].get<double>(), m["pearson"].get<double>(),
        m["baseline_gene_mean_mse"].get<double>(), m["baseline_gene_mean_pearson"].get<double>(), m["baseline_knn_mse"].get<double>(),
        m["baseline_knn_pearson"].get<double>());
    if (m.contains("autoencoder"))
      std::cout << fmt::format("  autoencoder MSE {:.4f}  Pearson {:.3f}\n", m["autoencoder"]["mse"].get<double>(),
                               m["autoencoder"]["pearson"].get<double>());
  });
}

void add_finetune_command(CLI::App& app) {
  auto o = std::make_shared<workflow::ClassifyTrainOptions>();
  auto json = std::make_shared<bool>(false);
  o->split.spec = "random";
  o->split.validation_fraction = 0.1;
  o->model.head = models::Head::Linear;
  o->train.epochs = 20;
  o->train.batch_size = 32;
  o->train.learning_rate = 3e-4;
  o->train.patience = 5;
  auto* cmd = app.add_subcommand("finetune",
                                 "Fine-tune a pretrained model (autoencoder, VAE or gene model) with a head on a cell label; evaluate "
                                 "with classify evaluate");
  cmd->add_option("--model,-m", o->finetune_model, "Pretrained model (.marrow: autoencoder or exceiver)")->required();
  add_data_options(*cmd, o->data);
  cmd->add_option("--label", o->label, "obs column to predict")->required();
  add_enum_option(*cmd, "--head", o->model.head, "Head on the pretrained model's output (gene model: its class query)",
                  {models::Head::Linear, models::Head::Mlp, models::Head::Transformer});
  cmd->add_flag("--freeze", o->freeze, "Train only the head (gene model: and its class query); the pretrained model stays as it is");
  cmd->add_flag("--from-scratch", o->from_scratch, "The model's architecture and input, randomly initialised (the control)");
  cmd->add_option("--encoder-lr-factor", o->encoder_learning_rate_factor,
                  "The pretrained weights learn at the learning rate times this (the head at the learning rate)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--label-fraction", o->label_fraction, "Train on this seeded, stratified share of the training cells")
      ->capture_default_str();
  cmd->add_flag("!--unbalanced", o->balanced, "Do not weight classes by inverse frequency");
  add_split_options(*cmd, o->split, true);
  add_training_options(*cmd, o->train);
  cmd->add_flag("--json", *json, "Print the test metrics as JSON");
  cmd->add_option("--out,-o", o->out, "Fine-tuned classifier (.marrow)")->required();
  cmd->callback([o, json] {
    o->train.seed = o->split.seed;
    nlohmann::json m = workflow::classify_train(*o);
    record_result(m);
    if (*json) std::cout << m.dump(2) << "\n";
    else
      std::cout << fmt::format("{}: accuracy {:.3f}  balanced accuracy {:.3f}  macro F1 {:.3f} (n {})\n", m.value("evaluated_on", ""),
                               m["accuracy"].get<double>(), m["balanced_accuracy"].get<double>(), m["macro_f1"].get<double>(),
                               m["n"].get<int64_t>());
  });
}

}  // namespace marrow::cli
