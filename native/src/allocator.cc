// A caching CPU allocator. glibc malloc fragments badly under the churn of large
// tensors (RSS grows without bound in training loops); keeping freed blocks in
// size buckets and reusing them bounds RSS and avoids page faults on reuse.
// Small blocks go to aligned malloc, large ones to mmap.
#include <c10/core/CPUAllocator.h>
#include <torch/version.h>
#include <sys/mman.h>

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <list>
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

// Free blocks wait in `lru` (oldest first) and, by size, in `free`. When caching a block
// would pass the limit, the oldest cached blocks are unmapped first, so the cache follows the
// current workload: after a ResNet-26, a ResNet-50's blocks (other sizes) used to find the
// cache full of the old sizes and were unmapped and faulted in again on every step.
struct Cached {
  void* p;
  size_t size;
};
using Lru = std::list<Cached>;

struct State {
  std::mutex mu;
  std::unordered_map<void*, size_t> live;                    // mmap'd block -> bucket size
  Lru lru;                                                    // cached blocks, oldest first
  std::unordered_map<size_t, std::vector<Lru::iterator>> free;  // bucket size -> cached, oldest first
  size_t inUse = 0, cached = 0, peak = 0, limit = cacheLimit();
};

std::atomic<size_t> smallInUse{0};

State& state() {
  static State* s = new State();  // leaked on purpose: tensors may be freed during exit
  return *s;
}

// Takes the oldest cached block out of the cache (s.mu held); returns it for unmapping.
Cached evictOldest(State& s) {
  Cached c = s.lru.front();
  auto& bucket = s.free[c.size];
  bucket.erase(bucket.begin());  // the bucket's oldest is the list's oldest of that size
  s.lru.pop_front();
  s.cached -= c.size;
  return c;
}

void deleteBlock(void* p) {
  if (p == nullptr) return;
  State& s = state();
  std::vector<Cached> unmap;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.live.find(p);
    if (it == s.live.end()) {  // a small malloc'd block
      smallInUse -= malloc_usable_size(p);
      std::free(p);
      return;
    }
    size_t size = it->second;
    s.live.erase(it);
    s.inUse -= size;
    if (size > s.limit) {
      unmap.push_back({p, size});
    } else {
      while (s.cached + size > s.limit) unmap.push_back(evictOldest(s));
      s.free[size].push_back(s.lru.insert(s.lru.end(), {p, size}));
      s.cached += size;
    }
  }
  for (auto& c : unmap) munmap(c.p, c.size);
}

// Returns every cached block to the system.
void dropCache() {
  State& s = state();
  std::vector<Cached> drop;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    drop.assign(s.lru.begin(), s.lru.end());
    s.lru.clear();
    s.free.clear();
    s.cached = 0;
  }
  for (auto& d : drop) munmap(d.p, d.size);
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
    if (it != s.free.end() && !it->second.empty()) {  // reuse the most recently freed
      void* p = it->second.back()->p;
      s.lru.erase(it->second.back());
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
// libtorch 2.3 made allocate() non-const and added copy_data(); 1.13 (Debian's) has neither.
#define ST_LIBTORCH_2_3 (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3))
#if ST_LIBTORCH_2_3
#define ST_ALLOCATE_CONST
#else
#define ST_ALLOCATE_CONST const
#endif

struct CachingAllocator final : public c10::Allocator {
  c10::DataPtr allocate(size_t n) ST_ALLOCATE_CONST override {
    void* p = newBlock(n);
    return {p, p, &deleteBlock, c10::Device(c10::DeviceType::CPU)};
  }
#if ST_LIBTORCH_2_3
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }
#endif
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
