#pragma once
// AdamW update in one pass over memory. LibTorch 1.13's AdamW::step makes about seven passes over
// every parameter and allocates a temporary the size of each; for the autoencoder's 2 x (genes x
// 1024) outer layers that memory traffic, not the matrix products, dominates a training step on
// the CPU. This computes the same update (decoupled weight decay, bias-corrected moments) reading
// parameter, gradient and both moments once, in parallel, and keeps the moments in torch's own
// AdamWParamState so optimizer.save/load (checkpoints) work unchanged.
#include <torch/torch.h>

namespace marrow::train {

void fused_adamw_step(torch::optim::AdamW& optimizer);

}  // namespace marrow::train
