#pragma once
// The report's figures as standalone SVG documents (text, so they diff, open in any browser and
// render inline in Markdown viewers). Four kinds are enough for a run report: line charts
// (training curves, ROC curves), confusion matrices, 2-D scatter maps coloured by label, and strip
// charts (one value per fold for each model, with the mean marked). No plotting library
// is packaged for C++ in Debian that writes SVG without a display stack, so this stays small and ours.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace marrow::report {

struct Series {
  std::string name;
  std::vector<double> x, y;  // points with a non-finite y are skipped
};

// Lines over a shared x axis, with a legend; y is linear from the smallest to the largest value.
std::string line_chart_svg(const std::string& title, const std::string& x_label, const std::string& y_label,
                           const std::vector<Series>& series);

// counts[t][p]: cells of true class t predicted as p. Each row is coloured by its share of the row
// (recall on the diagonal) and labelled with the count, so that small classes stay readable.
std::string confusion_svg(const std::string& title, const std::vector<std::string>& classes,
                          const std::vector<std::vector<int64_t>>& counts);

// xy: n x 2 (row-major); category[i] indexes names (-1: drawn grey as "missing").
std::string scatter_svg(const std::string& title, const std::vector<float>& xy, const std::vector<int>& category,
                        const std::vector<std::string>& names);

// One column per category (e.g. model), its values as points spread sideways (e.g. one per fold) and
// its mean as a bar; y is linear over the values. Non-finite values are skipped.
std::string strip_chart_svg(const std::string& title, const std::string& y_label, const std::vector<std::string>& categories,
                            const std::vector<std::vector<double>>& values);

// Text with &, <, > and " replaced by their entities (SVG and HTML alike).
std::string xml_escape(std::string_view text);

}  // namespace marrow::report
