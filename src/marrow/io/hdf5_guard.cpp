#include "marrow/io/hdf5_guard.hpp"

#include <hdf5.h>
#include <signal.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <tuple>
#include <vector>

#include "marrow/core/error.hpp"
#include "marrow/io/hdf5.hpp"

namespace marrow::h5 {

namespace {

std::shared_mutex& fork_lock() {
  static std::shared_mutex lock;
  return lock;
}
thread_local int sections_held = 0;

// ---- the child: walk everything, ignore HDF5's clean errors ------------------------------------

constexpr hsize_t kBlockRows = 65536;  // string datasets are read in blocks of this many elements

bool has_variable_data(hid_t type) {
  return H5Tis_variable_str(type) > 0 || H5Tdetect_class(type, H5T_VLEN) > 0 ||
         (H5Tget_class(type) == H5T_COMPOUND && H5Tdetect_class(type, H5T_STRING) > 0);
}

// Reads `n` elements of `type` with `read`, then frees what HDF5 allocated for variable data.
template <typename Read>
void read_and_reclaim(hid_t type, hid_t mem_space, hsize_t n, Read read) {
  hid_t mem = H5Tget_native_type(type, H5T_DIR_ASCEND);
  if (mem < 0) return;
  size_t width = H5Tget_size(mem);
  if (width == 0 || n > (hsize_t{1} << 36) / width) {
    H5Tclose(mem);
    return;
  }
  std::vector<unsigned char> buffer(width * n);
  if (read(mem, buffer.data()) >= 0 && has_variable_data(mem)) H5Dvlen_reclaim(mem, mem_space, H5P_DEFAULT, buffer.data());
  H5Tclose(mem);
}

void dereference_all(hid_t at, hid_t attribute, hsize_t n) {
  std::vector<hobj_ref_t> refs(n);
  if (n == 0 || H5Aread(attribute, H5T_STD_REF_OBJ, refs.data()) < 0) return;
  for (hobj_ref_t& ref : refs) {
    hid_t target = H5Rdereference2(at, H5P_DEFAULT, H5R_OBJECT, &ref);
    if (target >= 0) H5Oclose(target);
  }
}

herr_t walk_attribute(hid_t object, const char* name, const H5A_info_t*, void*) {
  hid_t attribute = H5Aopen(object, name, H5P_DEFAULT);
  if (attribute < 0) return 0;
  hid_t type = H5Aget_type(attribute), space = H5Aget_space(attribute);
  hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
  if (type >= 0 && n > 0) {
    if (H5Tget_class(type) == H5T_REFERENCE) {
      dereference_all(object, attribute, static_cast<hsize_t>(n));
    } else {
      read_and_reclaim(type, space, static_cast<hsize_t>(n), [&](hid_t mem, void* buffer) { return H5Aread(attribute, mem, buffer); });
    }
  }
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  H5Aclose(attribute);
  return 0;
}

// Reads `count` elements of `type` (the memory type the reader uses) from `first` along the first
// dimension (all of a scalar), its variable-length strings allocated within `budget`.
void read_rows(hid_t dataset, hid_t type, hid_t file_space, int rank, const hsize_t* dims, hsize_t first, hsize_t count,
               const StringBudget& budget) {
  std::vector<hsize_t> offset(rank, 0), extent(dims, dims + rank);
  hsize_t n = 1;
  if (rank > 0) {
    offset[0] = first;
    extent[0] = count;
    H5Sselect_hyperslab(file_space, H5S_SELECT_SET, offset.data(), nullptr, extent.data(), nullptr);
    for (int d = 0; d < rank; ++d) n *= extent[d];
  }
  hid_t mem_space = rank > 0 ? H5Screate_simple(1, &n, nullptr) : H5Screate(H5S_SCALAR);
  read_and_reclaim(type, mem_space, n, [&](hid_t mem, void* buffer) {
    return H5Dread(dataset, mem, mem_space, rank > 0 ? file_space : H5S_ALL, budget.transfer(), buffer);
  });
  H5Sclose(mem_space);
}

// Reads all rows of `type` in blocks, within one budget for the strings (as the reader's one read).
void read_all_rows(hid_t dataset, hid_t type, hid_t space, int rank, const hsize_t* dims) {
  StringBudget budget(dataset);
  hsize_t rows = rank > 0 ? dims[0] : 1;
  for (hsize_t first = 0; first < rows && !budget.exceeded(); first += kBlockRows)
    read_rows(dataset, type, space, rank, dims, first, std::min(kBlockRows, rows - first), budget);
}

// A record dataset is read one field at a time, as the reader reads it (h5::read_compound_strings):
// converting the whole record takes another path through HDF5, which missed a string claiming
// gigabytes that the reader's one-field read then allocated.
void read_each_field(hid_t dataset, hid_t type, hid_t space, int rank, const hsize_t* dims) {
  int members = H5Tget_nmembers(type);
  for (int i = 0; i < members; ++i) {
    hid_t member = H5Tget_member_type(type, i);
    char* name = H5Tget_member_name(type, i);
    hid_t native = member >= 0 ? H5Tget_native_type(member, H5T_DIR_ASCEND) : -1;
    if (native >= 0 && name != nullptr) {
      hid_t one = H5Tcreate(H5T_COMPOUND, H5Tget_size(native));
      if (one >= 0 && H5Tinsert(one, name, 0, native) >= 0) read_all_rows(dataset, one, space, rank, dims);
      if (one >= 0) H5Tclose(one);
    }
    if (native >= 0) H5Tclose(native);
    if (name != nullptr) H5free_memory(name);
    if (member >= 0) H5Tclose(member);
  }
}

// Strings and records are read whole (in blocks): their bytes live in global heaps, which is where
// HDF5 crashes. Numbers are read at both ends, and the chunk index is walked by asking for the
// stored size; a damaged chunk itself is a clean read error later.
void walk_dataset(hid_t dataset) {
  hid_t type = H5Dget_type(dataset), space = H5Dget_space(dataset);
  int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
  if (type >= 0 && rank >= 0 && rank <= 32) {
    std::vector<hsize_t> dims(std::max(rank, 1), 1);
    H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    (void)H5Dget_storage_size(dataset);
    hsize_t rows = rank > 0 ? dims[0] : 1;
    bool all = has_variable_data(type) || H5Tget_class(type) == H5T_STRING;
    if (rows > 0 && H5Tget_class(type) == H5T_COMPOUND) {
      read_each_field(dataset, type, space, rank, dims.data());
    } else if (rows > 0 && all) {
      read_all_rows(dataset, type, space, rank, dims.data());
    } else if (rows > 0) {
      hsize_t row_width = 1;
      for (int d = 1; d < rank; ++d) row_width *= dims[d];
      hsize_t count = row_width > 0 && row_width < kBlockRows ? 1 : 0;  // huge rows: the index walk only
      if (count) {
        StringBudget budget(dataset);
        read_rows(dataset, type, space, rank, dims.data(), 0, count, budget);
        read_rows(dataset, type, space, rank, dims.data(), rows - 1, count, budget);
      }
    }
  }
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
}

// Objects already walked, by address: hard links can make cycles and share objects.
using Seen = std::set<haddr_t>;

void walk_object(hid_t object, Seen& seen);

herr_t walk_link(hid_t group, const char* name, const H5L_info_t* info, void* data) {
  // Soft and external links are only read (as the readers' exists() checks do), never followed.
  if (info->type != H5L_TYPE_HARD || !static_cast<Seen*>(data)->insert(info->u.address).second) return 0;
  hid_t object = H5Oopen(group, name, H5P_DEFAULT);
  if (object < 0) return 0;
  walk_object(object, *static_cast<Seen*>(data));
  H5Oclose(object);
  return 0;
}

// Every link of a group. A damaged one stops H5Literate (and would stop H5Ovisit for the whole
// file), but the readers open later links by name: the walk carries on after it.
void walk_group(hid_t group, Seen& seen) {
  H5G_info_t info{};
  hsize_t links = H5Gget_info(group, &info) >= 0 ? info.nlinks : 0;
  hsize_t index = 0;
  while (true) {
    hsize_t before = index;
    if (H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &index, walk_link, &seen) >= 0) return;
    index = std::max(index, before) + 1;
    if (index >= links) return;
  }
}

void walk_object(hid_t object, Seen& seen) {
  H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, nullptr, walk_attribute, nullptr);
  H5I_type_t type = H5Iget_type(object);
  if (type == H5I_DATASET) walk_dataset(object);
  if (type == H5I_GROUP || type == H5I_FILE) walk_group(object, seen);
}

[[noreturn]] void child_walk(const std::string& path, rlim_t cpu_seconds) {
  rlimit cpu{cpu_seconds, cpu_seconds + 1}, core{0, 0};
  setrlimit(RLIMIT_CPU, &cpu);
  setrlimit(RLIMIT_CORE, &core);  // a crash here is expected: no core file
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  if (H5Fis_hdf5(path.c_str()) > 0) {
    hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    Seen seen;
    if (file >= 0) walk_object(file, seen);
    // No close: _exit leaves nothing to flush, and the parent's open files are the parent's.
  }
  _exit(0);
}

// ---- the parent ------------------------------------------------------------------------------

// Limits from the file size. The walk reads metadata and strings at >= 20 MB of file per CPU
// second on the shared data (docs/reliability.md); the limits leave a 10x margin over that, the
// wall-clock one another 10x for a busy machine or a slow disk.
rlim_t cpu_limit_seconds(off_t size) { return 2 + static_cast<rlim_t>(size / (2 << 20)); }

double now_seconds() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + t.tv_nsec * 1e-9;
}

// Waits for the child, at most `wall` seconds; returns waitpid's status, or -1 after killing it.
// A pidfd wakes the parent the moment the child ends; polling every 1 ms is the fallback.
int wait_for(pid_t child, double wall) {
  double start = now_seconds();
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, child, 0));
  while (true) {
    int status = 0;
    pid_t done = waitpid(child, &status, WNOHANG);
    if (done == child || (done < 0 && errno != EINTR)) {  // the latter: reaped elsewhere, nothing to report
      if (pidfd >= 0) close(pidfd);
      return done == child ? status : 0;
    }
    double left = wall - (now_seconds() - start);
    if (left <= 0) {
      kill(child, SIGKILL);
      while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
      if (pidfd >= 0) close(pidfd);
      return -1;
    }
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      poll(&p, 1, static_cast<int>(std::min(left, 1.0) * 1000) + 1);
    } else {
      timespec pause{0, 1'000'000};
      nanosleep(&pause, nullptr);
    }
  }
}

using FileKey = std::tuple<dev_t, ino_t, off_t, int64_t, int64_t>;

}  // namespace

ThreadSection::ThreadSection() {
  if (sections_held++ == 0) fork_lock().lock_shared();
}

ThreadSection::~ThreadSection() {
  if (--sections_held == 0) fork_lock().unlock_shared();
}

void check_file_survivable(const std::string& path) {
  struct stat st{};
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;  // the reader says what is wrong
  FileKey key{st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
  static std::mutex checked_mutex;
  static std::set<FileKey> checked;
  {
    std::lock_guard lock(checked_mutex);
    if (checked.count(key)) return;
  }
  // A thread inside a ThreadSection already holds the lock shared; it forks without waiting.
  std::unique_lock<std::shared_mutex> exclusive(fork_lock(), std::defer_lock);
  if (sections_held == 0) exclusive.lock();
  rlim_t cpu = cpu_limit_seconds(st.st_size);
  pid_t child = fork();
  if (child < 0) fail("{}: cannot check the HDF5 file: fork failed: {}", path, std::strerror(errno));
  if (child == 0) child_walk(path, cpu);
  int status = wait_for(child, 10.0 * cpu);
  if (exclusive.owns_lock()) exclusive.unlock();
  if (status == -1)
    fail("{}: corrupt HDF5 file (HDF5 did not finish reading its metadata in {} s)", path, 10 * cpu);
  if (WIFSIGNALED(status)) {
    int signal = WTERMSIG(status);
    if (signal == SIGXCPU || signal == SIGKILL)
      fail("{}: corrupt HDF5 file (HDF5 did not finish reading its metadata in {} s of CPU time)", path, cpu);
    fail("{}: corrupt HDF5 file (HDF5 crashed reading its metadata: {})", path, strsignal(signal));
  }
  // The walk always ends in _exit(0); anything else is a death by other means (a sanitizer's report
  // under the fuzzing build, an allocation failure), so the file is not safe to open here either.
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
    fail("{}: corrupt HDF5 file (HDF5 failed reading its metadata: exit {})", path, WEXITSTATUS(status));
  std::lock_guard lock(checked_mutex);
  checked.insert(key);
}

}  // namespace marrow::h5
