#pragma once
// Seeded randomness that gives the same numbers with every standard library: std::mt19937_64 is
// fully specified, but std::shuffle and the std:: distributions are not, so splits and simulations
// use these instead and stay reproducible across compilers.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace marrow {

using Rng = std::mt19937_64;

// Uniform integer in [0, n), unbiased (rejection sampling).
inline uint64_t uniform_index(Rng& rng, uint64_t n) {
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = rng();
  while (x >= limit);
  return x % n;
}

// Uniform double in [0, 1) with 53 random bits.
inline double uniform01(Rng& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

template <typename T>
void shuffle(std::vector<T>& items, Rng& rng) {
  for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[uniform_index(rng, i)]);
}

// Up to `max_count` of the indices [0, n), drawn with a fixed seed and returned sorted (all of them
// when n <= max_count).
inline std::vector<int64_t> sample_indices(int64_t n, int64_t max_count, uint64_t seed) {
  std::vector<int64_t> rows(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) rows[static_cast<size_t>(i)] = i;
  if (n <= max_count) return rows;
  Rng rng(seed);
  shuffle(rows, rng);
  rows.resize(static_cast<size_t>(max_count));
  std::sort(rows.begin(), rows.end());
  return rows;
}

inline double standard_normal(Rng& rng) {  // Box-Muller
  double u1 = uniform01(rng), u2 = uniform01(rng);
  if (u1 < 1e-300) u1 = 1e-300;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

// Gamma(shape, scale=1), Marsaglia and Tsang.
inline double gamma_sample(Rng& rng, double shape) {
  if (shape < 1.0) return gamma_sample(rng, shape + 1.0) * std::pow(uniform01(rng) + 1e-300, 1.0 / shape);
  double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    double x = standard_normal(rng), v = 1.0 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    double u = uniform01(rng);
    if (u < 1.0 - 0.0331 * x * x * x * x || std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

// Poisson(mean): inversion for small means, PTRS transformed rejection (Hoermann 1993) otherwise.
inline int64_t poisson_sample(Rng& rng, double mean) {
  if (mean <= 0) return 0;
  if (mean < 10.0) {
    double l = std::exp(-mean), p = 1.0;
    int64_t k = -1;
    do {
      ++k;
      p *= uniform01(rng);
    } while (p > l);
    return k;
  }
  double log_mean = std::log(mean), smu = std::sqrt(mean);
  double b = 0.931 + 2.53 * smu, a = -0.059 + 0.02483 * b;
  double inv_alpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
  while (true) {
    double u = uniform01(rng) - 0.5, v = uniform01(rng);
    double us = 0.5 - std::abs(u);
    double k = std::floor((2 * a / us + b) * u + mean + 0.43);
    if (us >= 0.07 && v <= vr) return static_cast<int64_t>(k);
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (std::log(v) + std::log(inv_alpha) - std::log(a / (us * us) + b) <= -mean + k * log_mean - std::lgamma(k + 1))
      return static_cast<int64_t>(k);
  }
}

// Negative binomial with mean `mean` and inverse dispersion `theta` (variance mean + mean^2/theta),
// as the gamma-Poisson mixture scVI and the simulator use.
inline int64_t negative_binomial_sample(Rng& rng, double mean, double theta) {
  if (mean <= 0) return 0;
  return poisson_sample(rng, gamma_sample(rng, theta) * mean / theta);
}

}  // namespace marrow
