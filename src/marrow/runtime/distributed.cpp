#include "marrow/runtime/distributed.hpp"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <spdlog/spdlog.h>

#include <cstdlib>

#include "marrow/core/error.hpp"
#include "marrow/core/strings.hpp"

namespace marrow::runtime {

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  int64_t parsed = 0;
  if (!parse_int64(v, parsed)) fail("environment variable {}='{}' is not an integer", name, v);
  return static_cast<int>(parsed);
}

}  // namespace

struct Distributed::Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};

DistributedOptions DistributedOptions::from_environment() {
  DistributedOptions o;
  o.rank = env_int("RANK", env_int("SLURM_PROCID", 0));
  o.world_size = env_int("WORLD_SIZE", env_int("SLURM_NTASKS", 1));
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) o.master_addr = a;
  o.master_port = env_int("MASTER_PORT", o.master_port);
  return o;
}

void DistributedOptions::validate() const {
  if (world_size < 1) fail("--world-size must be at least 1, got {}", world_size);
  if (rank < 0 || rank >= world_size) fail("--rank {} is outside 0..{} (WORLD_SIZE {})", rank, world_size - 1, world_size);
  if (master_port <= 0 || master_port > 65535) fail("--master-port must be in 1..65535, got {}", master_port);
  if (timeout_seconds <= 0) fail("--dist-timeout must be positive, got {}", timeout_seconds);
}

Distributed::Distributed(DistributedOptions options) : options_(std::move(options)), group_(std::make_unique<Group>()) {}
Distributed::~Distributed() = default;

std::shared_ptr<Distributed> Distributed::connect(const DistributedOptions& o) {
  o.validate();
  std::shared_ptr<Distributed> d(new Distributed(o));
  const auto timeout = std::chrono::milliseconds(1000LL * o.timeout_seconds);
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(o.master_port);
    store_options.isServer = o.rank == 0;
    store_options.numWorkers = o.world_size;
    store_options.waitWorkers = true;
    store_options.timeout = timeout;
    d->group_->store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, store_options);
    auto pg_options = c10d::ProcessGroupGloo::Options::create(timeout);
    pg_options->devices.push_back(o.master_addr == "127.0.0.1" || o.master_addr == "localhost"
                                      ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                      : c10d::ProcessGroupGloo::createDefaultDevice());
    d->group_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(d->group_->store, o.rank, o.world_size, pg_options);
  } catch (const std::exception& e) {
    fail("rank {} of {}: cannot join the process group at {}:{} within {} s: {}", o.rank, o.world_size, o.master_addr, o.master_port,
         o.timeout_seconds, split(e.what(), '\n').front());
  }
  spdlog::info("rank {} of {} joined the process group at {}:{} (c10d Gloo)", o.rank, o.world_size, o.master_addr, o.master_port);
  return d;
}

namespace {
template <typename F>
void collective(const DistributedOptions& o, const char* what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    fail("rank {} of {}: {} failed, another rank has probably died or stalled (timeout {} s): {}", o.rank, o.world_size, what,
         o.timeout_seconds, split(e.what(), '\n').front());
  }
}
}  // namespace

void Distributed::allreduce_sum(at::Tensor& tensor) {
  collective(options_, "all-reduce", [&] {
    std::vector<at::Tensor> tensors{tensor};
    group_->pg->allreduce(tensors)->wait();
  });
}

void Distributed::allreduce_sum(std::vector<double>& values) {
  if (values.empty()) return;
  at::Tensor t = torch::from_blob(values.data(), {static_cast<int64_t>(values.size())}, torch::kFloat64).clone();
  allreduce_sum(t);
  std::copy(t.data_ptr<double>(), t.data_ptr<double>() + t.numel(), values.begin());
}

void Distributed::broadcast(at::Tensor& tensor, int root) {
  collective(options_, "broadcast", [&] {
    std::vector<at::Tensor> tensors{tensor};
    c10d::BroadcastOptions b;
    b.rootRank = root;
    group_->pg->broadcast(tensors, b)->wait();
  });
}

void Distributed::check_same(double value, const std::string& what) {
  at::Tensor t = torch::tensor({value, -value}, torch::kFloat64);
  collective(options_, "all-reduce", [&] {
    std::vector<at::Tensor> tensors{t};
    c10d::AllreduceOptions a;
    a.reduceOp = c10d::ReduceOp::MAX;
    group_->pg->allreduce(tensors, a)->wait();
  });
  double most = t[0].item<double>(), least = -t[1].item<double>();
  if (most != least) fail("rank {}: ranks disagree on {} (from {} to {}); every rank must run the same command on the same data", options_.rank, what, least, most);
}

}  // namespace marrow::runtime
