// Shared by the addon's translation units: the tensor handle and error mapping.
#pragma once
#include <ATen/ATen.h>
#include <napi.h>

namespace st {

// A JS tensor handle is an External holding a Box. dispose() drops the reference early;
// the External's finalizer is only the GC backstop.
// A magic number (not N-API type tags, which cost a property write per tensor)
// tells our Externals from any other.
constexpr uint64_t kBoxMagic = 0x7370747465736e72ULL;
struct Box {
  uint64_t magic = kBoxMagic;
  at::Tensor t;
  int64_t reported = 0;  // bytes reported to V8 as external memory
};

Napi::Value wrap(Napi::Env env, at::Tensor t);
// Throws a JS TypeError naming `what` (e.g. "aten::conv2d argument 'weight'") for a
// non-tensor or a disposed tensor.
at::Tensor& unwrap(Napi::Env env, const Napi::Value& v, const char* what);
at::Tensor& unwrap(Napi::Env env, const Napi::Value& v, const std::string& op, const std::string& arg);
at::ScalarType scalarTypeFromJs(Napi::Env env, const Napi::Value& v);

// AVX2 and FMA, which the hand-vectorised loops (winograd.cc, sgd.cc, mix.cc) need.
inline bool cpuHasAvx2() {
#if defined(__x86_64__)
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
#else
  return false;
#endif
}

void initOps(Napi::Env env, Napi::Object exports);
void initDist(Napi::Env env, Napi::Object exports);
void installAllocator();
Napi::Value allocatorStats(const Napi::CallbackInfo& info);
Napi::Value emptyCache(const Napi::CallbackInfo& info);

}  // namespace st

// Every exported function body runs inside ST_TRY/ST_CATCH so a libtorch error
// becomes a JS Error with libtorch's message instead of terminating the process.
#define ST_TRY try {
#define ST_CATCH(env)                                                        \
  }                                                                          \
  catch (const Napi::Error&) {                                               \
    throw;                                                                   \
  }                                                                          \
  catch (const c10::Error& e) {                                              \
    throw Napi::Error::New(env, e.what_without_backtrace());                 \
  }                                                                          \
  catch (const std::exception& e) {                                          \
    throw Napi::Error::New(env, e.what());                                   \
  }
