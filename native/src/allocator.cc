// A caching CPU allocator. glibc malloc fragments badly under the churn of large
// tensors (RSS grows without bound in training loops); keeping freed blocks in
// size buckets and reusing them bounds RSS and avoids page faults on reuse.
// Small blocks go to aligned malloc, large ones to mmap.
#include <c10/core/CPUAllocator.h>
#include <sys/mman.h>

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common.h"

namespace st {
namespace {

constexpr size_t kAlign = 64;              // c10's alignment for vectorised kernels
constexpr size_t kLarge = 64 * 1024;       // from here on: mmap + cache
size_t cacheLimit() {                      // cached (free) bytes kept at most
  const char* s = std::getenv("SPOTTUNE_CACHE_MB");
  return (s ? std::strtoull(s, nullptr, 10) : 2048) << 20;
}

// Round up to 4 buckets per power of two (at most 25% waste), in whole pages.
size_t bucketSize(size_t n) {
  size_t p = 1;
  while (p * 2 <= n) p *= 2;
  size_t step = std::max<size_t>(p / 4, 4096);
  return (n + step - 1) / step * step;
}

struct State {
  std::mutex mu;
  std::unordered_map<void*, size_t> live;              // mmap'd block -> bucket size
  std::unordered_map<size_t, std::vector<void*>> free;  // bucket size -> cached blocks
  size_t inUse = 0, cached = 0, peak = 0, limit = cacheLimit();
};
std::atomic<size_t> smallInUse{0};
State& state() {
  static State* s = new State();  // leaked on purpose: tensors may be freed during exit
  return *s;
}

void deleteBlock(void* p) {
  if (p == nullptr) return;
  State& s = state();
  std::unique_lock<std::mutex> lock(s.mu);
  auto it = s.live.find(p);
  if (it == s.live.end()) {  // a small malloc'd block
    lock.unlock();
    smallInUse -= malloc_usable_size(p);
    std::free(p);
    return;
  }
  size_t size = it->second;
  s.live.erase(it);
  s.inUse -= size;
  if (s.cached + size <= s.limit) {
    s.free[size].push_back(p);
    s.cached += size;
  } else {
    lock.unlock();
    munmap(p, size);
  }
}

// Returns every cached block to the system.
void dropCache() {
  State& s = state();
  std::vector<std::pair<void*, size_t>> drop;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    for (auto& kv : s.free)
      for (void* q : kv.second) drop.emplace_back(q, kv.first);
    s.free.clear();
    s.cached = 0;
  }
  for (auto& d : drop) munmap(d.first, d.second);
}

void* newBlock(size_t n) {
  if (n < kLarge) {
    void* p = nullptr;
    if (posix_memalign(&p, kAlign, std::max<size_t>(n, kAlign)) != 0) throw std::bad_alloc();
    smallInUse += malloc_usable_size(p);
    return p;
  }
  size_t size = bucketSize(n);
  State& s = state();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.free.find(size);
    if (it != s.free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      s.cached -= size;
      s.live[p] = size;
      s.inUse += size;
      s.peak = std::max(s.peak, s.inUse);
      return p;
    }
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    // Give the cache back to the system and try once more before failing.
    dropCache();
    p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
  }
  std::lock_guard<std::mutex> lock(s.mu);
  s.live[p] = size;
  s.inUse += size;
  s.peak = std::max(s.peak, s.inUse);
  return p;
}

// oneDNN requires the DataPtr's context to equal its data pointer and a raw_deleter.
struct CachingAllocator final : public c10::Allocator {
  c10::DataPtr allocate(size_t n) const override {
    void* p = newBlock(n);
    return {p, p, &deleteBlock, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &deleteBlock; }
};

}  // namespace

void installAllocator() {
  static CachingAllocator* alloc = new CachingAllocator();
  c10::SetCPUAllocator(alloc, /*priority=*/100);
}

Napi::Value allocatorStats(const Napi::CallbackInfo& info) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("bytesInUse", Napi::Number::New(info.Env(), double(s.inUse + smallInUse.load())));
  o.Set("cachedBytes", Napi::Number::New(info.Env(), double(s.cached)));
  o.Set("peakLargeBytes", Napi::Number::New(info.Env(), double(s.peak)));
  return o;
}

Napi::Value emptyCache(const Napi::CallbackInfo& info) {
  dropCache();
  return info.Env().Undefined();
}

}  // namespace st
