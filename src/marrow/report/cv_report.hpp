#pragma once
// The report of a cross-validation (`marrow cv`, workflow/cv.hpp): DIR/results.md and DIR/figures/
// from its results.json content. Per task, a table of each model and baseline (mean +- standard
// deviation over folds x seeds), strip charts of the per-fold AUROC and balanced accuracy, and for
// two-class tasks the ROC curves (true-positive rate averaged over folds at fixed false-positive
// rates); then the paired differences against each baseline and the folds' patients. Torch-free.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace marrow::report {

struct CvTask {
  std::string name;      // a task, or "TASK/GROUP" for a zero-shot group
  std::string positive;  // two-class tasks: the class whose F1 and call rate are shown
};

// Writes DIR/results.md and its figures; returns the path of results.md.
std::string write_cv_report(const nlohmann::json& results, const std::vector<CvTask>& tasks, const std::string& dir);

}  // namespace marrow::report
