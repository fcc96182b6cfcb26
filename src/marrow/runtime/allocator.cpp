#include "marrow/runtime/allocator.hpp"

#include <malloc.h>

#include <limits>

namespace marrow::runtime {

void configure_allocator() {
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
}

}  // namespace marrow::runtime
