#pragma once

namespace marrow::runtime {

// glibc serves every allocation above 32 MB with a fresh mmap and unmaps it on free, so the
// gradient and temporary buffers of a large layer (genes x 1024 floats: 70 MB) are page-faulted in
// again at every training step; measured, that was 40% of an autoencoder step. This keeps freed
// memory in the process for reuse instead (no mmap for large blocks, no trimming of the heap).
void configure_allocator();

}  // namespace marrow::runtime
