#include "marrow/train/fused_adamw.hpp"

#include <ATen/Parallel.h>

#include <cmath>

namespace marrow::train {

void fused_adamw_step(torch::optim::AdamW& optimizer) {
  torch::NoGradGuard no_grad;
  for (auto& group : optimizer.param_groups()) {
    auto& options = static_cast<torch::optim::AdamWOptions&>(group.options());
    const double lr = options.lr(), eps = options.eps(), weight_decay = options.weight_decay();
    const double beta1 = std::get<0>(options.betas()), beta2 = std::get<1>(options.betas());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      TORCH_CHECK(!options.amsgrad(), "fused AdamW does not implement amsgrad");
      TORCH_CHECK(p.scalar_type() == torch::kFloat && p.is_contiguous() && p.device().is_cpu(),
                  "fused AdamW takes contiguous float32 CPU parameters");
      auto key = c10::guts::to_string(p.unsafeGetTensorImpl());
      auto& states = optimizer.state();
      if (states.find(key) == states.end()) {
        auto state = std::make_unique<torch::optim::AdamWParamState>();
        state->step(0);
        state->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        state->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        states[key] = std::move(state);
      }
      auto& state = static_cast<torch::optim::AdamWParamState&>(*states[key]);
      state.step(state.step() + 1);
      const double bias1 = 1.0 - std::pow(beta1, static_cast<double>(state.step()));
      const double bias2 = 1.0 - std::pow(beta2, static_cast<double>(state.step()));
      const float step_size = static_cast<float>(lr / bias1);
      const float inv_sqrt_bias2 = static_cast<float>(1.0 / std::sqrt(bias2));
      const float decay = static_cast<float>(1.0 - lr * weight_decay);
      const float b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2), e = static_cast<float>(eps);
      torch::Tensor grad = p.grad().contiguous();
      float* w = p.data_ptr<float>();
      const float* g = grad.data_ptr<float>();
      float* m = state.exp_avg().data_ptr<float>();
      float* v = state.exp_avg_sq().data_ptr<float>();
      at::parallel_for(0, p.numel(), 16384, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          float gi = g[i];
          float mi = b1 * m[i] + (1 - b1) * gi;
          float vi = b2 * v[i] + (1 - b2) * gi * gi;
          m[i] = mi;
          v[i] = vi;
          w[i] = w[i] * decay - step_size * mi / (std::sqrt(vi) * inv_sqrt_bias2 + e);
        }
      });
    }
  }
}

}  // namespace marrow::train
