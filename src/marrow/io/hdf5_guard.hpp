#pragma once
// HDF5 1.10 itself can crash (SIGSEGV in H5HG_read when a variable-length string points into a
// damaged global heap) or loop forever (H5C_protect) on corrupt metadata, and nothing marrow checks
// beforehand can stop it once HDF5 follows the bad offsets. So before a file is opened the first
// time, a fork()ed child opens it and walks every object, attribute and variable-length string the
// readers can touch, under a CPU-time and a wall-clock limit; the parent turns a signal or a
// timeout in the child into "FILE: corrupt HDF5 file (...)" (exit 2). The walk reads what the readers
// read, the way they read it (record datasets one field at a time, strings within h5::StringBudget),
// and goes on past a damaged link, since the readers open later ones by name. The measured cost is in
// docs/reliability.md. Each file (device, inode, size, modification time) is checked once per process.
#include <string>

namespace marrow::h5 {

// Throws marrow::Error when HDF5 crashes or does not finish on `path`; returns when it survives
// (HDF5's own clean errors are left to the reader, which reports them with more context).
void check_file_survivable(const std::string& path);

// Held by a thread other than the main one for as long as it calls HDF5 (the streaming read-ahead):
// the check never fork()s while another thread is inside HDF5, whose global lock the child would
// inherit locked.
class ThreadSection {
 public:
  ThreadSection();
  ~ThreadSection();
  ThreadSection(const ThreadSection&) = delete;
  ThreadSection& operator=(const ThreadSection&) = delete;
};

}  // namespace marrow::h5
