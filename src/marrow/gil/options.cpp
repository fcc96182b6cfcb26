#include "marrow/gil/options.hpp"

#include "marrow/core/error.hpp"

namespace marrow::gil {

void check_run_options(const RunOptions& o) {
  if (o.masking.mask_fraction <= 0 || o.masking.mask_fraction >= 1) fail("--mask-fraction must be in (0, 1), got {}", o.masking.mask_fraction);
  if (o.eval_mask_fraction <= 0 || o.eval_mask_fraction >= 1) fail("--eval-mask-fraction must be in (0, 1), got {}", o.eval_mask_fraction);
  if (o.replay_selection == ReplaySelection::ClassBalanced && o.label.empty()) fail("--replay-selection class_balanced needs --label");
}

}  // namespace marrow::gil
