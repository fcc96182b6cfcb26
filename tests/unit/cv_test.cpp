// Cross-validation pieces: folds over whole groups, ranking metrics, decision thresholds and the
// paired comparison's interval.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <set>

#include "marrow/core/error.hpp"
#include "marrow/data/folds.hpp"
#include "marrow/eval/comparison.hpp"
#include "marrow/eval/metrics.hpp"

namespace marrow {
namespace {

// `patients` groups of `cells_each` cells; the first `healthy` are healthy donors.
DataFrame patients_frame(int patients, int healthy, int cells_each) {
  DataFrame obs;
  std::vector<std::string> patient, condition;
  for (int p = 0; p < patients; ++p)
    for (int c = 0; c < cells_each; ++c) {
      obs.index.push_back(fmt::format("p{}_c{}", p, c));
      patient.push_back(fmt::format("P{:02d}", p));
      condition.push_back(p < healthy ? "healthy" : "AML");
    }
  obs.set(Column::make_strings("patient", patient));
  obs.set(Column::make_strings("condition", condition));
  return obs;
}

TEST(GroupFolds, EveryGroupIsTestedOnceAndNeverTrainsItsOwnFold) {
  const DataFrame obs = patients_frame(16, 3, 5);
  FoldOptions o;
  o.stratify = "condition";
  o.folds = 5;
  o.seed = 7;
  const std::vector<Split> folds = group_folds(obs, o);
  ASSERT_EQ(folds.size(), 5u);
  std::multiset<std::string> tested;
  std::set<size_t> folds_with_healthy;
  for (size_t k = 0; k < folds.size(); ++k) {
    const Split& s = folds[k];
    for (const auto& g : s.test_groups) tested.insert(g);
    EXPECT_GE(s.test_groups.size(), 3u);  // 16 groups over 5 folds: 3 or 4 each
    EXPECT_LE(s.test_groups.size(), 4u);
    EXPECT_FALSE(s.validation_groups.empty());
    const std::set<std::string> test(s.test_groups.begin(), s.test_groups.end());
    for (const auto& g : s.validation_groups) EXPECT_FALSE(test.count(g)) << g;
    // No cell of a test or validation group trains.
    const auto train_rows = s.rows(obs, "train");
    const Column& patient = obs.require("patient");
    const std::set<std::string> held(s.validation_groups.begin(), s.validation_groups.end());
    for (int64_t r : train_rows) {
      EXPECT_FALSE(test.count(patient.text(r)));
      EXPECT_FALSE(held.count(patient.text(r)));
    }
    EXPECT_EQ(s.rows(obs, "test").size(), 5 * s.test_groups.size());
    for (const auto& g : s.test_groups)
      if (g < "P03") folds_with_healthy.insert(k);
  }
  EXPECT_EQ(tested.size(), 16u);
  EXPECT_EQ(std::set<std::string>(tested.begin(), tested.end()).size(), 16u);  // each exactly once
  EXPECT_EQ(folds_with_healthy.size(), 3u);  // the three healthy donors in three different folds
  // Seeded: the same seed deals the same folds, another seed others.
  EXPECT_EQ(assign_group_folds(obs, o), assign_group_folds(obs, o));
  FoldOptions other = o;
  other.seed = 8;
  EXPECT_NE(assign_group_folds(obs, o), assign_group_folds(obs, other));
}

TEST(GroupFolds, LeaveOneGroupOutHasAFoldPerGroup) {
  const DataFrame obs = patients_frame(4, 1, 3);
  FoldOptions o;
  o.leave_one_group_out = true;
  const auto folds = assign_group_folds(obs, o);
  ASSERT_EQ(folds.size(), 4u);
  for (const auto& f : folds) EXPECT_EQ(f.size(), 1u);
}

TEST(GroupFolds, BadOptionsAreClearErrors) {
  const DataFrame obs = patients_frame(4, 1, 3);
  FoldOptions o;
  o.folds = 5;
  EXPECT_THROW(
      {
        try {
          assign_group_folds(obs, o);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("5 folds need at least 5 groups, found 4"), std::string::npos) << e.what();
          throw;
        }
      },
      Error);
  o.folds = 2;
  o.group_column = "donor";
  EXPECT_THROW(assign_group_folds(obs, o), Error);
  o.group_column = "patient";
  o.folds = 1;
  EXPECT_THROW(assign_group_folds(obs, o), Error);
}

TEST(RankingMetrics, AveragePrecisionAndMacroAurocMatchScikitLearn) {
  // sklearn.metrics.average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.8333...
  EXPECT_NEAR(eval::average_precision({0.1f, 0.4f, 0.35f, 0.8f}, {0, 0, 1, 1}), 0.833333, 1e-5);
  EXPECT_TRUE(std::isnan(eval::average_precision({0.1f, 0.2f}, {0, 0})));
  // Three classes, each ranked perfectly by its own probability: macro one-vs-rest AUROC 1.
  const std::vector<float> p = {0.8f, 0.1f, 0.1f, 0.1f, 0.8f, 0.1f, 0.1f, 0.1f, 0.8f, 0.7f, 0.2f, 0.1f};
  nlohmann::json m = eval::classification_metrics({"a", "b", "c"}, {0, 1, 2, 0}, {0, 1, 2, 0}, p);
  EXPECT_DOUBLE_EQ(m["auroc"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(m["average_precision"].get<double>(), 1.0);
  // Binary: the ROC curve on the false-positive-rate grid reaches 1.
  nlohmann::json b = eval::classification_metrics({"n", "y"}, {0, 1, 1, 0}, {0, 1, 1, 0}, {0.9f, 0.1f, 0.2f, 0.8f, 0.3f, 0.7f, 0.6f, 0.4f});
  EXPECT_DOUBLE_EQ(b["auroc"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(b["roc"]["tpr"].back().get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(b["per_class"]["n"]["average_precision"].get<double>(), 1.0);
  // One class only among the cells: nothing to rank, so no AUROC and no average precision.
  nlohmann::json one = eval::classification_metrics({"n", "y"}, {0, 0}, {0, 1}, {0.9f, 0.1f, 0.4f, 0.6f});
  EXPECT_TRUE(one["auroc"].is_null());
  EXPECT_TRUE(one["average_precision"].is_null());
}

TEST(DecisionThreshold, MaximisesBalancedAccuracyOnTheGivenCells) {
  // Positives score 0.2-0.3, negatives 0.0-0.1: 0.5 calls everything negative, the chosen threshold separates.
  std::vector<float> score;
  std::vector<uint8_t> positive;
  for (int i = 0; i < 20; ++i) {
    score.push_back(0.2f + 0.005f * i), positive.push_back(1);
    score.push_back(0.0f + 0.005f * i), positive.push_back(0);
  }
  const double t = eval::choose_threshold(score, positive, eval::ThresholdRule::BalancedAccuracy);
  EXPECT_GT(t, 0.095);
  EXPECT_LE(t, 0.2);
  EXPECT_DOUBLE_EQ(eval::choose_threshold(score, positive, eval::ThresholdRule::None), 0.5);
  EXPECT_DOUBLE_EQ(eval::choose_threshold({0.1f, 0.9f}, {1, 1}, eval::ThresholdRule::BalancedAccuracy), 0.5);
}

TEST(PairedComparison, CorrectedIntervalIsWiderThanThePlainOne) {
  const std::vector<double> model = {0.8, 0.75, 0.9, 0.7, 0.85}, baseline = {0.7, 0.7, 0.8, 0.72, 0.8};
  const auto plain = eval::paired_difference(model, baseline, 0.0);
  const auto corrected = eval::paired_difference(model, baseline, 0.25);
  EXPECT_NEAR(plain.mean_difference, 0.056, 1e-9);
  EXPECT_EQ(plain.wins, 4);
  EXPECT_EQ(plain.n, 5);
  // plain: sd of (0.1, 0.05, 0.1, -0.02, 0.05) = 0.04930, t(4) = 2.776: half-width 0.06121
  EXPECT_NEAR(plain.ci95_high - plain.mean_difference, 2.776 * 0.049295 / std::sqrt(5.0), 1e-4);
  EXPECT_GT(corrected.ci95_high - corrected.ci95_low, plain.ci95_high - plain.ci95_low);
  EXPECT_NEAR(eval::t_quantile_975(60), 2.000, 2e-3);
  EXPECT_NEAR(eval::t_quantile_975(1000), 1.962, 1e-3);
  // A missing value on either side drops the pair.
  EXPECT_EQ(eval::paired_difference({0.5, NAN}, {0.4, 0.3}, 0).n, 1);
}

}  // namespace
}  // namespace marrow
