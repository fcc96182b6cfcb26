#pragma once
// Memory checked before it is spent: a size read from a file header (a matrix shape, a data array's
// length) is compared with what the machine can give before anything is allocated, so a file that
// declares 10^11 values gives one clear error naming the need and the way out, instead of
// std::bad_alloc or the kernel's out-of-memory killer.
#include <cstdint>
#include <string>

namespace marrow::runtime {

// Bytes this process can still allocate: MemAvailable from /proc/meminfo, lowered by a cgroup
// memory.max and by RLIMIT_AS / RLIMIT_DATA where those are set.
int64_t available_memory();

// "1.5 GB", "512 MB", "20 kB".
std::string format_bytes(double bytes);

// Fails ("FILE: WHAT needs N of memory, more than the M available; HINT") when `bytes` exceeds 90%
// of available_memory(). `bytes` < 0 means an overflowing product: always too much.
void require_memory(const std::string& file, const std::string& what, double bytes, const std::string& hint);

// The hint for a matrix that does not fit: read it in row blocks.
inline constexpr const char* kStreamHint = "use --stream to read it in row blocks";

}  // namespace marrow::runtime
