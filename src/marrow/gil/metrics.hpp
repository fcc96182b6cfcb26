#pragma once
// Continual-learning metrics of a gene-incremental run, for a loss where lower is better (masked
// MSE). mse[i][j] is the MSE on held-out cells of gene set j after training stage i; set j is
// introduced at stage introduced[j] and is NaN before it.
//   forgetting_j          mse[K][j] - mse[s_j][j]        (after the last stage minus right after its own)
//   average forgetting    mean over sets introduced before the last stage (and `averaged`)
//   backward transfer     mean over the same sets of mse[s_j][j] - mse[K][j] (GEM's BWT with the sign
//                         turned for a loss: negative = forgetting, positive = later stages helped)
//   forward transfer_j    scratch[j] - mse[s_j][j], where scratch[j] is a model trained on stage s_j
//                         alone from scratch (positive = earlier stages helped learn set j)
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

namespace marrow::gil {

using Matrix = std::vector<std::vector<double>>;

struct ForgettingSummary {
  std::vector<double> forgetting;          // per set (NaN for sets introduced at the last stage)
  double average_forgetting = 0;
  double backward_transfer = 0;
  std::vector<double> forward_transfer;    // per set (NaN for base-stage sets or without scratch)
  double average_forward_transfer = 0;     // NaN when there is none
  std::vector<double> final_mse;           // the last row
  double mean_final_mse = 0;
  // Per stage i: mean over sets introduced before i of mse[i][j] - mse[s_j][j] (0 at stage 0).
  std::vector<double> forgetting_by_stage;
};

// scratch may be empty (no forward transfer). averaged: which sets enter the averages (empty: all,
// as gil runs do: the base stage's set is the base genes, as in Qi et al.).
ForgettingSummary summarise(const Matrix& mse, const std::vector<int>& introduced, const std::vector<double>& scratch,
                            const std::vector<uint8_t>& averaged = {});

struct MeanCi {
  double mean = 0, half_width = 0;  // 95% Student t interval (half_width NaN for one value)
  int n = 0;
};
MeanCi mean_ci(const std::vector<double>& values);  // non-finite values are skipped

// Metrics in results.json: a non-finite value is null, and null (or anything not a number) reads
// back as NaN.
nlohmann::json numbers_json(const std::vector<double>& values);
nlohmann::json matrix_json(const Matrix& m);
double number(const nlohmann::json& j);
Matrix matrix_of(const nlohmann::json& j);

}  // namespace marrow::gil
