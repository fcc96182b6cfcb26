#include "marrow/report/svg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace marrow::report {

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += ch;
    }
  }
  return out;
}

namespace {

// Tableau-20 order: distinct at a glance for up to 20 classes (van Galen has 21 states; the 21st
// wraps round to the first colour, with the legend still naming each).
const char* const kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                                "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896",
                                "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"};
constexpr int kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

std::string header(double width, double height, const std::string& title) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{3}</text>\n",
      width, height, width / 2, xml_escape(title));
}

std::string tick_label(double value) {
  double a = std::fabs(value);
  if (a != 0 && (a < 1e-3 || a >= 1e5)) return fmt::format("{:.1e}", value);
  if (a >= 100) return fmt::format("{:.0f}", value);
  return fmt::format("{:.3g}", value);
}

// Up to `count` evenly spaced ticks across [lo, hi] at a "nice" step (1, 2 or 5 times a power of ten).
std::vector<double> nice_ticks(double lo, double hi, int count) {
  if (!(hi > lo)) return {lo};
  double raw = (hi - lo) / count, power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw) {
      step = m * power;
      break;
    }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push_back(std::fabs(t) < step * 1e-9 ? 0 : t);
  return ticks;
}

// The plot's border and its y grid lines with tick labels, for y from y_lo (bottom) to y_hi (top).
std::string plot_frame(double left, double top, double plot_w, double plot_h, double y_lo, double y_hi) {
  auto py = [&](double y) { return top + (1 - (y - y_lo) / (y_hi - y_lo)) * plot_h; };
  std::string out = fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n", left, top,
                                plot_w, plot_h);
  for (double t : nice_ticks(y_lo, y_hi, 5))
    out += fmt::format(
        "<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#ddd\"/>\n"
        "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
        left, py(t), left + plot_w, left - 6, py(t) + 4, tick_label(t));
  return out;
}

std::string legend(double x, double y, const std::vector<std::string>& names, bool lines) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    double row = y + 16.0 * static_cast<double>(i);
    const char* colour = kPalette[i % kPaletteSize];
    if (lines)
      out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"/>\n", x, row - 4, x + 16, row - 4, colour);
    else
      out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"{}\"/>\n", x + 8, row - 4, colour);
    out += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", x + 22, row, xml_escape(names[i]));
  }
  return out;
}

}  // namespace

std::string line_chart_svg(const std::string& title, const std::string& x_label, const std::string& y_label,
                           const std::vector<Series>& series) {
  const double width = 720, height = 360, left = 70, right = 250, top = 36, bottom = 50;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i]) || !std::isfinite(s.x[i])) continue;
      x_lo = std::min(x_lo, s.x[i]), x_hi = std::max(x_hi, s.x[i]);
      y_lo = std::min(y_lo, s.y[i]), y_hi = std::max(y_hi, s.y[i]);
    }
  std::string out = header(width, height, title);
  if (!std::isfinite(x_lo)) return out + "<text x=\"360\" y=\"180\" text-anchor=\"middle\">no data</text>\n</svg>\n";
  if (x_hi == x_lo) x_hi = x_lo + 1;
  if (y_hi == y_lo) y_hi = y_lo + std::max(1e-6, std::fabs(y_lo) * 0.1);
  double pad = (y_hi - y_lo) * 0.05;
  y_lo -= pad, y_hi += pad;
  auto px = [&](double x) { return left + (x - x_lo) / (x_hi - x_lo) * plot_w; };
  auto py = [&](double y) { return top + (1 - (y - y_lo) / (y_hi - y_lo)) * plot_h; };

  out += plot_frame(left, top, plot_w, plot_h, y_lo, y_hi);
  for (double t : nice_ticks(x_lo, x_hi, 8))
    out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", px(t), top + plot_h + 16, tick_label(t));
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", left + plot_w / 2, height - 10, xml_escape(x_label));
  out += fmt::format("<text transform=\"translate(16 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n", top + plot_h / 2,
                     xml_escape(y_label));

  std::vector<std::string> names;
  for (size_t s = 0; s < series.size(); ++s) {
    names.push_back(series[s].name);
    std::string points;
    for (size_t i = 0; i < series[s].x.size() && i < series[s].y.size(); ++i)
      if (std::isfinite(series[s].y[i]) && std::isfinite(series[s].x[i]))
        points += fmt::format("{:.1f},{:.1f} ", px(series[s].x[i]), py(series[s].y[i]));
    out += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", points, kPalette[s % kPaletteSize]);
  }
  out += legend(left + plot_w + 14, top + 12, names, true);
  return out + "</svg>\n";
}

std::string confusion_svg(const std::string& title, const std::vector<std::string>& classes,
                          const std::vector<std::vector<int64_t>>& counts) {
  const size_t k = classes.size();
  size_t longest = 0;
  for (const auto& c : classes) longest = std::max(longest, c.size());
  const double cell = k > 12 ? 26 : 40, label_room = 12 + 7.0 * static_cast<double>(longest);
  const double left = label_room + 24, top = 40 + label_room;
  const double width = left + cell * static_cast<double>(k) + 20, height = top + cell * static_cast<double>(k) + 20;
  std::string out = header(std::max(width, 260.0), height, title);
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-style=\"italic\">predicted</text>\n",
                     left + cell * static_cast<double>(k) / 2, 36);
  out += fmt::format("<text transform=\"translate(14 {}) rotate(-90)\" text-anchor=\"middle\" font-style=\"italic\">true</text>\n",
                     top + cell * static_cast<double>(k) / 2);
  for (size_t i = 0; i < k; ++i) {
    double centre = static_cast<double>(i) * cell + cell / 2;
    out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", left - 6, top + centre + 4, xml_escape(classes[i]));
    out += fmt::format("<text transform=\"translate({:.1f} {}) rotate(-90)\">{}</text>\n", left + centre + 4, top - 6,
                       xml_escape(classes[i]));
  }
  for (size_t t = 0; t < k; ++t) {
    int64_t row_total = 0;
    for (size_t p = 0; p < k && t < counts.size() && p < counts[t].size(); ++p) row_total += counts[t][p];
    for (size_t p = 0; p < k; ++p) {
      int64_t n = t < counts.size() && p < counts[t].size() ? counts[t][p] : 0;
      double share = row_total > 0 ? static_cast<double>(n) / static_cast<double>(row_total) : 0;
      // White to a deep blue; text turns white where the fill is dark.
      int shade = static_cast<int>(std::lround(255 - share * 200));
      double x = left + static_cast<double>(p) * cell, y = top + static_cast<double>(t) * cell;
      out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"rgb({},{},255)\" stroke=\"#fff\"/>\n", x, y, cell,
                         cell, shade, shade);
      if (n > 0)
        out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"{}\" fill=\"{}\">{}</text>\n", x + cell / 2,
                           y + cell / 2 + 4, k > 12 ? 8 : 11, share > 0.5 ? "white" : "black", n);
    }
  }
  return out + "</svg>\n";
}

std::string scatter_svg(const std::string& title, const std::vector<float>& xy, const std::vector<int>& category,
                        const std::vector<std::string>& names) {
  const double size = 480, left = 20, top = 36, legend_width = 200;
  const size_t n = xy.size() / 2;
  std::string out = header(left + size + legend_width, top + size + 20, title);
  float x_lo = std::numeric_limits<float>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
  for (size_t i = 0; i < n; ++i) {
    x_lo = std::min(x_lo, xy[2 * i]), x_hi = std::max(x_hi, xy[2 * i]);
    y_lo = std::min(y_lo, xy[2 * i + 1]), y_hi = std::max(y_hi, xy[2 * i + 1]);
  }
  // One scale for both axes: distances in a 2-D map mean the same in every direction.
  double span = std::max(static_cast<double>(x_hi - x_lo), static_cast<double>(y_hi - y_lo));
  if (!(span > 0)) span = 1;
  out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#ccc\"/>\n", left, top, size, size);
  for (size_t i = 0; i < n; ++i) {
    double x = left + 8 + (xy[2 * i] - x_lo) / span * (size - 16);
    double y = top + 8 + (1 - (xy[2 * i + 1] - y_lo) / span) * (size - 16);
    int c = i < category.size() ? category[i] : -1;
    out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2\" fill=\"{}\" fill-opacity=\"0.75\"/>\n", x, y,
                       c < 0 ? "#bbbbbb" : kPalette[c % kPaletteSize]);
  }
  out += legend(left + size + 14, top + 12, names, false);
  return out + "</svg>\n";
}

std::string strip_chart_svg(const std::string& title, const std::string& y_label, const std::vector<std::string>& categories,
                            const std::vector<std::vector<double>>& values) {
  const double column = 90, left = 70, top = 36, plot_h = 280, bottom = 90;
  const double plot_w = column * static_cast<double>(std::max<size_t>(categories.size(), 1));
  double y_lo = std::numeric_limits<double>::infinity(), y_hi = -y_lo;
  for (const auto& v : values)
    for (double y : v)
      if (std::isfinite(y)) y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
  std::string out = header(left + plot_w + 20, top + plot_h + bottom, title);
  if (!std::isfinite(y_lo)) return out + "<text x=\"100\" y=\"100\">no data</text>\n</svg>\n";
  if (y_hi == y_lo) y_hi = y_lo + std::max(1e-6, std::fabs(y_lo) * 0.1);
  const double pad = (y_hi - y_lo) * 0.08;
  y_lo -= pad, y_hi += pad;
  auto py = [&](double y) { return top + (1 - (y - y_lo) / (y_hi - y_lo)) * plot_h; };
  out += plot_frame(left, top, plot_w, plot_h, y_lo, y_hi);
  out += fmt::format("<text transform=\"translate(16 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n", top + plot_h / 2,
                     xml_escape(y_label));
  for (size_t c = 0; c < categories.size(); ++c) {
    const double centre = left + column * (static_cast<double>(c) + 0.5);
    const char* colour = kPalette[c % kPaletteSize];
    double sum = 0;
    int n = 0;
    const std::vector<double>& v = c < values.size() ? values[c] : std::vector<double>{};
    for (size_t i = 0; i < v.size(); ++i) {
      if (!std::isfinite(v[i])) continue;
      const double offset = v.size() > 1 ? (static_cast<double>(i) / static_cast<double>(v.size() - 1) - 0.5) * column * 0.5 : 0;
      out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\" fill-opacity=\"0.8\"/>\n", centre + offset, py(v[i]), colour);
      sum += v[i], ++n;
    }
    if (n > 0)
      out += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#222\" stroke-width=\"2\"/>\n",
                         centre - column * 0.35, py(sum / n), centre + column * 0.35, py(sum / n));
    out += fmt::format("<text transform=\"translate({:.1f} {}) rotate(35)\" text-anchor=\"start\">{}</text>\n", centre - 10,
                       top + plot_h + 14, xml_escape(categories[c]));
  }
  return out + "</svg>\n";
}

}  // namespace marrow::report
