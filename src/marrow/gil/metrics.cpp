#include "marrow/gil/metrics.hpp"

#include <cmath>

#include "marrow/core/error.hpp"

namespace marrow::gil {

ForgettingSummary summarise(const Matrix& mse, const std::vector<int>& introduced, const std::vector<double>& scratch,
                            const std::vector<uint8_t>& averaged) {
  if (mse.empty()) fail("gil metrics: empty MSE matrix");
  const int stages = static_cast<int>(mse.size()), last = stages - 1;
  const size_t sets = introduced.size();
  for (const auto& row : mse)
    if (row.size() != sets) fail("gil metrics: a row of the MSE matrix has {} values for {} gene sets", row.size(), sets);
  ForgettingSummary s;
  s.forgetting.assign(sets, NAN);
  s.forward_transfer.assign(sets, NAN);
  double forgetting_sum = 0, forward_sum = 0;
  int forgetting_n = 0, forward_n = 0;
  if (!averaged.empty() && averaged.size() != sets) fail("gil metrics: {} averaging flags for {} gene sets", averaged.size(), sets);
  auto in_average = [&](size_t j) { return averaged.empty() || averaged[j]; };
  for (size_t j = 0; j < sets; ++j) {
    int at = introduced[j];
    if (at < 0 || at > last) fail("gil metrics: gene set {} is introduced at stage {} of {}", j, at, stages);
    if (at < last) {
      s.forgetting[j] = mse[last][j] - mse[at][j];
      if (in_average(j)) forgetting_sum += s.forgetting[j], ++forgetting_n;
    }
    if (at > 0 && j < scratch.size() && std::isfinite(scratch[j])) {
      s.forward_transfer[j] = scratch[j] - mse[at][j];
      if (in_average(j)) forward_sum += s.forward_transfer[j], ++forward_n;
    }
  }
  s.average_forgetting = forgetting_n ? forgetting_sum / forgetting_n : 0.0;
  s.backward_transfer = -s.average_forgetting;
  s.average_forward_transfer = forward_n ? forward_sum / forward_n : NAN;
  s.final_mse = mse[last];
  double total = 0;
  for (double v : s.final_mse) total += v;
  s.mean_final_mse = total / static_cast<double>(sets);  // every set, base genes included
  for (int i = 0; i < stages; ++i) {
    double sum = 0;
    int n = 0;
    for (size_t j = 0; j < sets; ++j)
      if (introduced[j] < i && in_average(j)) sum += mse[i][j] - mse[introduced[j]][j], ++n;
    s.forgetting_by_stage.push_back(n ? sum / n : 0.0);
  }
  return s;
}

MeanCi mean_ci(const std::vector<double>& values) {
  // Two-sided 95% Student t quantiles for 1..30 degrees of freedom, then the normal one.
  static const double t95[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
                               2.120,  2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  MeanCi r;
  double sum = 0, sq = 0;
  for (double v : values)
    if (std::isfinite(v)) sum += v, sq += v * v, ++r.n;
  if (r.n == 0) return {NAN, NAN, 0};
  r.mean = sum / r.n;
  if (r.n < 2) {
    r.half_width = NAN;
    return r;
  }
  double var = std::max(sq / r.n - r.mean * r.mean, 0.0) * r.n / (r.n - 1);
  double t = r.n - 1 <= 30 ? t95[r.n - 2] : 1.960;
  r.half_width = t * std::sqrt(var / r.n);
  return r;
}

nlohmann::json numbers_json(const std::vector<double>& values) {
  nlohmann::json j = nlohmann::json::array();
  for (double v : values) j.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr));
  return j;
}

nlohmann::json matrix_json(const Matrix& m) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& row : m) j.push_back(numbers_json(row));
  return j;
}

double number(const nlohmann::json& j) { return j.is_number() ? j.get<double>() : NAN; }

Matrix matrix_of(const nlohmann::json& j) {
  Matrix m;
  for (const auto& row : j) {
    m.emplace_back();
    for (const auto& v : row) m.back().push_back(number(v));
  }
  return m;
}

}  // namespace marrow::gil
