#include "marrow/preprocess/loess.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "marrow/core/error.hpp"

namespace marrow::preprocess {

namespace {

// Solves the (degree+1) x (degree+1) normal equations by Gaussian elimination with pivoting;
// returns the intercept (the fit at the centre point).
double solve_intercept(double a[3][3], double b[3], int n) {
  for (int col = 0; col < n; ++col) {
    int pivot = col;
    for (int r = col + 1; r < n; ++r)
      if (std::abs(a[r][col]) > std::abs(a[pivot][col])) pivot = r;
    if (std::abs(a[pivot][col]) < 1e-300) return std::nan("");
    std::swap(a[col], a[pivot]);
    std::swap(b[col], b[pivot]);
    for (int r = col + 1; r < n; ++r) {
      double f = a[r][col] / a[col][col];
      for (int c = col; c < n; ++c) a[r][c] -= f * a[col][c];
      b[r] -= f * b[col];
    }
  }
  double coef[3];
  for (int r = n - 1; r >= 0; --r) {
    double s = b[r];
    for (int c = r + 1; c < n; ++c) s -= a[r][c] * coef[c];
    coef[r] = s / a[r][r];
  }
  return coef[0];
}

}  // namespace

std::vector<double> loess_fit(const std::vector<double>& x, const std::vector<double>& y, double span, int degree) {
  const size_t n = x.size();
  if (y.size() != n) fail("loess: x and y differ in length");
  if (degree < 0 || degree > 2) fail("loess: degree must be 0, 1 or 2");
  if (n == 0) return {};
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> xs(n), ys(n);
  for (size_t i = 0; i < n; ++i) {
    xs[i] = x[order[i]];
    ys[i] = y[order[i]];
  }
  size_t q = std::clamp<size_t>(static_cast<size_t>(std::floor(span * static_cast<double>(n))), std::min<size_t>(n, degree + 1), n);
  int terms = degree + 1;
  std::vector<double> fitted(n);
  size_t lo = 0;  // window [lo, lo + q) of the q nearest sorted neighbours
  for (size_t i = 0; i < n; ++i) {
    double x0 = xs[i];
    while (lo + q < n && xs[lo + q] - x0 < x0 - xs[lo]) ++lo;
    double h = std::max(x0 - xs[lo], xs[lo + q - 1] - x0);
    if (span > 1) h *= std::sqrt(span);  // R's loess widens the band beyond the data when span > 1
    double a[3][3] = {{0}}, b[3] = {0};
    // Points tied at distance h (outside the window too) get weight 0, as in R: include the window only.
    for (size_t j = lo; j < lo + q; ++j) {
      double d = xs[j] - x0;
      double u = h > 0 ? std::abs(d) / h : 0.0;
      if (u >= 1) continue;
      double t = 1 - u * u * u;
      double w = t * t * t;
      double p[3] = {1, d, d * d};
      for (int r = 0; r < terms; ++r) {
        for (int c = 0; c < terms; ++c) a[r][c] += w * p[r] * p[c];
        b[r] += w * p[r] * ys[j];
      }
    }
    double value = solve_intercept(a, b, terms);
    if (std::isnan(value)) {  // degenerate window (all x equal): fall back to the weighted mean
      double sw = 0, sy = 0;
      for (size_t j = lo; j < lo + q; ++j) sw += 1, sy += ys[j];
      value = sy / sw;
    }
    fitted[order[i]] = value;
  }
  return fitted;
}

}  // namespace marrow::preprocess
