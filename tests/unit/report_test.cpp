// The report's figures: t-SNE keeps planted clusters apart; the SVG writers draw what they are given.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "marrow/core/random.hpp"
#include "marrow/report/html.hpp"
#include "marrow/report/svg.hpp"
#include "marrow/report/tsne.hpp"

namespace marrow {
namespace {

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Share of cells whose nearest neighbour in the 2-D map has their own label.
double neighbour_agreement(const std::vector<float>& xy, const std::vector<int>& label) {
  const size_t n = label.size();
  int agree = 0;
  for (size_t i = 0; i < n; ++i) {
    size_t best = i;
    float best_d = INFINITY;
    for (size_t j = 0; j < n; ++j) {
      float dx = xy[2 * i] - xy[2 * j], dy = xy[2 * i + 1] - xy[2 * j + 1];
      if (j != i && dx * dx + dy * dy < best_d) best_d = dx * dx + dy * dy, best = j;
    }
    agree += label[best] == label[i];
  }
  return static_cast<double>(agree) / static_cast<double>(n);
}

TEST(Tsne, KeepsPlantedClustersApart) {
  // Six equidistant Gaussian clusters in 20 dimensions: no 2-D linear projection (the PCA start)
  // keeps them all apart, so separation in the map is the optimisation's work.
  const int per = 40, k = 6, d = 20;
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  DenseMatrix data;
  data.rows = per * k;
  data.cols = d;
  std::vector<int> label;
  for (int c = 0; c < k; ++c)
    for (int i = 0; i < per; ++i) {
      for (int j = 0; j < d; ++j) data.values.push_back(noise(rng) + (j % k == c ? 6.0f : 0.0f));
      label.push_back(c);
    }
  std::vector<float> xy = report::tsne_2d(data);
  ASSERT_EQ(xy.size(), static_cast<size_t>(2 * per * k));
  for (float v : xy) ASSERT_TRUE(std::isfinite(v));
  report::TsneOptions start_only;
  start_only.iterations = 0;
  double before = neighbour_agreement(report::tsne_2d(data, start_only), label), after = neighbour_agreement(xy, label);
  EXPECT_GE(after, 0.98);
  EXPECT_LT(before, 0.9) << "the PCA start already separates the clusters; the test proves nothing";
}

TEST(Tsne, SampleRowsIsSeededSortedAndBounded) {
  auto a = sample_indices(1000, 100, 3), b = sample_indices(1000, 100, 3);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 100u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(sample_indices(50, 100, 3).size(), 50u);
}

TEST(Svg, ConfusionMatrixShowsCountsAndEscapesNames) {
  std::string svg = report::confusion_svg("t<1>", {"a&b", "c"}, {{7, 3}, {0, 5}});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("a&amp;b"), std::string::npos);
  EXPECT_NE(svg.find("t&lt;1&gt;"), std::string::npos);
  EXPECT_NE(svg.find(">7</text>"), std::string::npos);
  EXPECT_NE(svg.find(">3</text>"), std::string::npos);
  EXPECT_NE(svg.find(">5</text>"), std::string::npos);
  EXPECT_EQ(count(svg, "<rect"), 1 + 4);  // background + one cell per pair
}

TEST(Svg, LineChartSkipsMissingPointsAndScatterDrawsEveryCell) {
  report::Series s{"validation", {1, 2, 3}, {0.5, NAN, 0.25}};
  std::string chart = report::line_chart_svg("loss", "epoch", "loss", {s});
  EXPECT_EQ(count(chart, "<polyline"), 1);
  EXPECT_EQ(chart.find("nan"), std::string::npos);
  std::string scatter = report::scatter_svg("map", {0, 0, 1, 1, 2, 0}, {0, 1, -1}, {"x", "y"});
  EXPECT_EQ(count(scatter, "<circle"), 3 + 2);  // cells + legend marks
  EXPECT_NE(scatter.find("#bbbbbb"), std::string::npos);  // the unlabelled cell
}

TEST(Html, ReportInlinesFiguresEscapesTextAndKeepsTables) {
  const auto dir = std::filesystem::temp_directory_path() / ("marrow_html_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "figures");
  std::ofstream(dir / "figures" / "a.svg") << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"></svg>";
  const std::string md =
      "# Title <b>\n\nSome `code` and **bold** & more.\n\n| model | AUROC |\n|---|---|\n| pca | 0.71 |\n| ae | 0.80 |\n\n"
      "![fig a](figures/a.svg) ![gone](figures/missing.svg) ![outside](../a.svg)\n\n- one\n- two\n\n```\n| not a table |\n```\n";
  const std::string html = report::markdown_to_html(md, dir, "t");
  EXPECT_NE(html.find("<h1>Title &lt;b&gt;</h1>"), std::string::npos);
  EXPECT_NE(html.find("<code>code</code>"), std::string::npos);
  EXPECT_NE(html.find("<strong>bold</strong> &amp; more"), std::string::npos);
  EXPECT_EQ(count(html, "<tr>"), 3);  // header and two rows; the separator row is not one
  EXPECT_NE(html.find("<td>0.80</td>"), std::string::npos);
  EXPECT_EQ(count(html, "src=\"data:image/svg+xml;base64,"), 1);
  EXPECT_EQ(count(html, "figure not available"), 2);  // missing, and outside the report's folder
  EXPECT_EQ(count(html, "<li>"), 2);
  EXPECT_NE(html.find("<pre>| not a table |"), std::string::npos);
  EXPECT_EQ(html.find("http"), std::string::npos);  // nothing is fetched: the figure is inlined (base64)

  const std::string tables = report::markdown_tables(md);
  EXPECT_EQ(tables, "# Title <b>\n| model | AUROC |\n|---|---|\n| pca | 0.71 |\n| ae | 0.80 |\n");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace marrow
