#pragma once
// The figures of a run report, each written atomically as an SVG file: training curves from the
// trainer's metrics files (JSON lines), confusion matrices from classification metrics JSON, and a
// 2-D t-SNE map of an embedding coloured by a label.
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "marrow/data/anndata.hpp"

namespace marrow::report {

struct Curve {
  std::string name;          // legend entry
  std::string metrics_file;  // the trainer's JSON lines
  std::string key;           // train_loss, validation_loss, ...
};
// The curves by epoch on one chart.
void write_training_curves(const std::vector<Curve>& curves, const std::string& title, const std::string& y_label,
                           const std::string& out_svg);

// From the "confusion" and "predicted_fraction" entries of eval::classification_metrics JSON.
void write_confusion_matrix(const nlohmann::json& metrics, const std::string& title, const std::string& out_svg);

// t-SNE of obsm[key] for up to max_cells cells of `data` (a seeded sample), coloured by obs[label].
void write_embedding_map(const AnnData& data, const std::string& key, const std::string& label, const std::string& title,
                         const std::string& out_svg, int64_t max_cells = 2000, uint64_t seed = 0);

}  // namespace marrow::report
