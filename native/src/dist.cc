// Collective communication for data-parallel training, on libtorch's own c10d: a TCPStore
// for the rendezvous (rank 0 serves it, or a launcher such as torchrun does) and a
// ProcessGroupGloo for the collectives.
// One process group per process. Collectives run synchronously on the calling (JS) thread:
// a training step waits for its gradients anyway. Every wait is bounded by the timeout, and
// a peer that dies closes its sockets, which Gloo reports at once; both become JS Errors.
// PyTorch's pip wheels ship no gloo headers: built against one, the addon has no
// data-parallel training, and distInit says so (see the end of this file).
#if __has_include(<gloo/config.h>)
#define USE_C10D_GLOO  // ProcessGroupGloo.hpp declares nothing without it
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>
#include <sstream>

#include "common.h"

namespace st {
namespace {

struct Group {
  int rank;
  int worldSize;
  std::chrono::milliseconds timeout;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};

// Never destroyed at exit: joining Gloo's threads from a static destructor can hang.
// distDestroy() frees it explicitly.
Group* group = nullptr;

Group& current(Napi::Env env, const char* what) {
  if (!group) throw Napi::Error::New(env, std::string(what) + ": no process group; call distInit first");
  return *group;
}

std::string where(const Group& g, const char* what) {
  return std::string("distributed ") + what + " (rank " + std::to_string(g.rank) + " of " + std::to_string(g.worldSize) + ")";
}

bool isLoopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

// Where this process listens for its peers: GLOO_SOCKET_IFNAME (comma-separated interfaces,
// as in PyTorch), else the given hostname, else loopback when the master is local, else the
// address the machine's hostname resolves to.
std::vector<std::shared_ptr<::gloo::transport::Device>> devices(const std::string& hostname, const std::string& masterAddr) {
  std::vector<std::shared_ptr<::gloo::transport::Device>> out;
  const char* ifnames = std::getenv("GLOO_SOCKET_IFNAME");
  if (ifnames && *ifnames) {
    std::stringstream ss(ifnames);
    for (std::string name; std::getline(ss, name, ',');)
      if (!name.empty()) out.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
  } else if (!hostname.empty()) {
    out.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(hostname));
  } else if (isLoopback(masterAddr)) {
    out.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  } else {
    out.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  return out;
}

int32_t intField(Napi::Env env, const Napi::Object& o, const char* name, int32_t min, int32_t max) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("distInit: '") + name + "' must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != double(int64_t(d)) || d < min || d > max)
    throw Napi::RangeError::New(env, std::string("distInit: '") + name + "' must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " + v.ToString().Utf8Value());
  return int32_t(d);
}

std::string stringField(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

// The tensors of a collective, made contiguous (the collective works on the copies, which
// are copied back afterwards where they are not the caller's own).
struct Operands {
  std::vector<at::Tensor> given, work;
};

Operands operands(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(what) + ": expected an array of tensors");
  Napi::Array a = v.As<Napi::Array>();
  Operands o;
  for (uint32_t i = 0; i < a.Length(); i++) {
    at::Tensor& t = unwrap(env, a.Get(i), what);
    if (t.layout() != at::kStrided) throw Napi::TypeError::New(env, std::string(what) + ": tensor " + std::to_string(i) + " is not dense");
    o.given.push_back(t);
    o.work.push_back(t.contiguous());
  }
  return o;
}

void copyBack(Operands& o) {
  // Parameters that require gradients are written in place, like PyTorch's broadcast of
  // module states (channels-last weights are not contiguous, so they come back this way).
  at::NoGradGuard noGrad;
  for (size_t i = 0; i < o.given.size(); i++)
    if (!o.work[i].is_same(o.given[i])) o.given[i].copy_(o.work[i]);
}

// Waits for a collective; Gloo's own timeout (set at init) bounds it.
void finish(const Group& g, const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
  try {
    work->wait();
  } catch (const std::exception& e) {
    const c10::Error* ce = dynamic_cast<const c10::Error*>(&e);
    throw std::runtime_error(where(g, what) + " failed: " + (ce ? ce->what_without_backtrace() : e.what()) + " (a peer process died or stopped answering)");
  }
}

// distInit({rank, worldSize, masterAddr, masterPort, timeoutMs, hostname?, storeServer?, storePrefix?}) -> undefined
// storeServer (default: rank 0) says whether this process serves the store; torchrun's agent
// serves it itself, and its workers then use it under the prefix /worker/attempt_<restart>.
Napi::Value distInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ST_TRY
  if (group) throw Napi::Error::New(env, "distInit: a process group already exists in this process; call distDestroy first");
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "distInit: expected {rank, worldSize, masterAddr, masterPort, timeoutMs}");
  Napi::Object o = info[0].As<Napi::Object>();
  int worldSize = intField(env, o, "worldSize", 1, 1 << 16);
  int rank = intField(env, o, "rank", 0, worldSize - 1);
  int port = intField(env, o, "masterPort", 1, 65535);
  int timeoutMs = intField(env, o, "timeoutMs", 1, 1 << 30);
  std::string masterAddr = stringField(o, "masterAddr");
  if (masterAddr.empty()) throw Napi::TypeError::New(env, "distInit: 'masterAddr' must be a host name or address");
  std::string hostname = stringField(o, "hostname");
  Napi::Value serverField = o.Get("storeServer");
  if (!serverField.IsUndefined() && !serverField.IsBoolean()) throw Napi::TypeError::New(env, "distInit: 'storeServer' must be a boolean");
  bool storeServer = serverField.IsBoolean() ? serverField.As<Napi::Boolean>().Value() : rank == 0;
  std::string storePrefix = stringField(o, "storePrefix");

  auto g = std::make_unique<Group>();
  g->rank = rank;
  g->worldSize = worldSize;
  g->timeout = std::chrono::milliseconds(timeoutMs);
  try {
    c10d::TCPStoreOptions so;
    so.port = uint16_t(port);
    so.isServer = storeServer;
    so.numWorkers = size_t(worldSize);
    so.waitWorkers = true;  // the server returns once every rank has connected, or times out
    so.timeout = g->timeout;
    g->store = c10::make_intrusive<c10d::TCPStore>(masterAddr, so);
    if (!storePrefix.empty()) g->store = c10::make_intrusive<c10d::PrefixStore>(storePrefix, g->store);
    auto po = c10d::ProcessGroupGloo::Options::create(g->timeout);
    po->devices = devices(hostname, masterAddr);
    po->threads = 1;  // one collective at a time: the training loop waits for each
    g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(g->store, rank, worldSize, po);
  } catch (const std::exception& e) {
    const c10::Error* ce = dynamic_cast<const c10::Error*>(&e);
    throw Napi::Error::New(env, "distributed init (rank " + std::to_string(rank) + " of " + std::to_string(worldSize) + ", master " + masterAddr + ":" + std::to_string(port) +
                                    ", timeout " + std::to_string(timeoutMs) + " ms) failed: " + (ce ? ce->what_without_backtrace() : e.what()) +
                                    " (did every rank start, with the same master address, port and world size?)");
  }
  group = g.release();
  return env.Undefined();
  ST_CATCH(env)
}

// allReduce(tensors, op: 'sum'|'product'|'min'|'max') -> undefined, in place
Napi::Value allReduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ST_TRY
  Group& g = current(env, "allReduce");
  Operands o = operands(env, info[0], "allReduce");
  if (o.work.empty()) return env.Undefined();
  std::string op = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "sum";
  c10d::AllreduceOptions opts;
  if (op == "sum") opts.reduceOp = c10d::ReduceOp::SUM;
  else if (op == "product") opts.reduceOp = c10d::ReduceOp::PRODUCT;
  else if (op == "min") opts.reduceOp = c10d::ReduceOp::MIN;
  else if (op == "max") opts.reduceOp = c10d::ReduceOp::MAX;
  else throw Napi::RangeError::New(env, "allReduce: op must be sum, product, min or max, got '" + op + "'");
  // Gloo's allreduce takes one tensor (per device); several tensors of one dtype go
  // through allreduce_coalesced, which flattens them into one buffer.
  for (const auto& t : o.work)
    if (t.scalar_type() != o.work[0].scalar_type()) throw Napi::TypeError::New(env, "allReduce: all tensors must have the same dtype");
  if (o.work.size() == 1) {
    finish(g, g.pg->allreduce(o.work, opts), "allReduce");
  } else {
    c10d::AllreduceCoalescedOptions co;
    co.reduceOp = opts.reduceOp;
    finish(g, g.pg->allreduce_coalesced(o.work, co), "allReduce");
  }
  copyBack(o);
  return env.Undefined();
  ST_CATCH(env)
}

// broadcast(tensors, root) -> undefined, in place
Napi::Value broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ST_TRY
  Group& g = current(env, "broadcast");
  Operands o = operands(env, info[0], "broadcast");
  c10d::BroadcastOptions opts;
  opts.rootRank = info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 0;
  if (opts.rootRank < 0 || opts.rootRank >= g.worldSize)
    throw Napi::RangeError::New(env, "broadcast: root must be a rank in [0, " + std::to_string(g.worldSize) + "), got " + std::to_string(opts.rootRank));
  // One collective per tensor (they may differ in dtype); all queued, then awaited.
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (auto& t : o.work) {
    std::vector<at::Tensor> one{t};
    works.push_back(g.pg->broadcast(one, opts));
  }
  for (auto& w : works) finish(g, w, "broadcast");
  copyBack(o);
  return env.Undefined();
  ST_CATCH(env)
}

Napi::Value barrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ST_TRY
  Group& g = current(env, "barrier");
  finish(g, g.pg->barrier(), "barrier");
  return env.Undefined();
  ST_CATCH(env)
}

Napi::Value distDestroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ST_TRY
  delete group;
  group = nullptr;
  return env.Undefined();
  ST_CATCH(env)
}

}  // namespace

void initDist(Napi::Env env, Napi::Object exports) {
  exports.Set("distInit", Napi::Function::New(env, distInit, "distInit"));
  exports.Set("allReduce", Napi::Function::New(env, allReduce, "allReduce"));
  exports.Set("broadcast", Napi::Function::New(env, broadcast, "broadcast"));
  exports.Set("barrier", Napi::Function::New(env, barrier, "barrier"));
  exports.Set("distDestroy", Napi::Function::New(env, distDestroy, "distDestroy"));
}

}  // namespace st

#else  // no gloo headers

#include "common.h"

namespace st {

void initDist(Napi::Env env, Napi::Object exports) {
  exports.Set("distInit", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
    throw Napi::Error::New(info.Env(), "data-parallel training is not available: spottune's addon was built against a libtorch without gloo headers "
                                       "(PyTorch's pip wheels ship none). Build it against Debian's libtorch-dev with libgloo-dev, or a libtorch that has include/gloo");
  }, "distInit"));
}

}  // namespace st

#endif
