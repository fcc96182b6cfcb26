#pragma once
// Data-parallel training across processes and hosts through PyTorch's c10d: a TCPStore rendezvous
// and a ProcessGroupGloo (CPU) all-reducing gradients. Configured the way torchrun, Slurm and
// Kubernetes jobs do it: RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT in the environment (flags
// override them). The trainer (train/trainer.hpp) splits every global batch between the ranks and
// averages their gradients, so a command gives the same model on any number of ranks, up to
// floating-point rounding.
//
// This header is free of torch so that options structs and the CLI can hold a group; the
// collectives take torch tensors by reference (declared, not defined, here).
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace at {
class Tensor;
}

namespace marrow::runtime {

struct DistributedOptions {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int timeout_seconds = 120;  // rendezvous and every collective; a rank that died makes the others fail after this

  // RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (and SLURM_PROCID / SLURM_NTASKS when RANK is unset).
  static DistributedOptions from_environment();
  bool enabled() const { return world_size > 1; }
  void validate() const;
};

class Distributed {
 public:
  // Rendezvous of all ranks (rank 0 hosts the store); fails with a clear error after the timeout.
  static std::shared_ptr<Distributed> connect(const DistributedOptions& options);
  ~Distributed();

  int rank() const { return options_.rank; }
  int world_size() const { return options_.world_size; }
  bool primary() const { return options_.rank == 0; }
  const DistributedOptions& options() const { return options_; }

  // In place, summed over ranks (a float tensor, contiguous).
  void allreduce_sum(at::Tensor& tensor);
  // The same for statistics held on the host (float64 on the wire).
  void allreduce_sum(std::vector<double>& values);
  // In place, rank `root`'s values on every rank.
  void broadcast(at::Tensor& tensor, int root = 0);
  // Fails unless every rank passed the same value (seeds, cell counts, parameter counts).
  void check_same(double value, const std::string& what);

 private:
  struct Group;
  explicit Distributed(DistributedOptions options);
  DistributedOptions options_;
  std::unique_ptr<Group> group_;
};

}  // namespace marrow::runtime
