// The addon's hand-written part: tensor handles, typed-array I/O, autograd,
// grad mode, seeds and RNG state, threads, memory. Every ATen operator goes
// through the generic dispatcher path in ops.cc instead.
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/GradMode.h>
#include <torch/version.h>

#include <atomic>
#include <cstring>

#include "common.h"

namespace st {
namespace {

std::atomic<int64_t> liveHandles{0};

Box* boxOf(const Napi::Value& v) {
  if (!v.IsExternal()) return nullptr;
  Box* b = v.As<Napi::External<Box>>().Data();
  return b && b->magic == kBoxMagic ? b : nullptr;
}

// Only large storages are reported to V8: enough to make the GC feel the pressure
// of forgotten tensors, without a V8 call for every small one. Tensors made inside tidy()
// are not reported (reportExternal is off there): tidy frees them, and reporting the
// gigabytes of activations a training step makes and frees had V8 run a full GC about
// every 100 ms (10% of a ResNet-50 step).
bool reportExternal = true;
int64_t reportedBytes(const at::Tensor& t) {
  if (!reportExternal || !t.defined() || !t.has_storage() || t.device().type() != at::kCPU) return 0;
  int64_t n = int64_t(t.storage().nbytes());
  return n >= (1 << 16) ? n : 0;
}

void release(Napi::Env env, Box* b) {
  if (!b->t.defined()) return;
  if (b->reported) Napi::MemoryManagement::AdjustExternalMemory(env, -b->reported);
  b->reported = 0;
  b->t = at::Tensor();
  --liveHandles;
}

std::vector<int64_t> intList(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(what) + ": expected an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber()) throw Napi::TypeError::New(env, std::string(what) + ": expected an array of integers");
    out[i] = e.As<Napi::Number>().Int64Value();
  }
  return out;
}

Napi::Array toJsInts(Napi::Env env, c10::IntArrayRef v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); i++) a.Set(uint32_t(i), Napi::Number::New(env, double(v[i])));
  return a;
}

#define FN(name) Napi::Value name(const Napi::CallbackInfo& info)
#define ENV Napi::Env env = info.Env()
#define T(i) unwrap(env, info[i], "tensor")

// fromBuffer(bytes: ArrayBufferView, shape: number[], dtype: int) -> handle (a copy)
FN(fromBuffer) {
  ENV;
  ST_TRY
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "fromBuffer: expected a typed array");
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  auto shape = intList(env, info[1], "shape");
  at::ScalarType dt = scalarTypeFromJs(env, info[2]);
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dt));
  size_t need = t.nbytes();
  if (ta.ByteLength() != need)
    throw Napi::RangeError::New(env, "fromBuffer: " + std::to_string(ta.ByteLength()) + " bytes given, shape " +
                                         c10::str(t.sizes()) + " of " + c10::toString(dt) + " needs " + std::to_string(need));
  if (need) std::memcpy(t.data_ptr(), static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), need);
  return wrap(env, t);
  ST_CATCH(env)
}

// toBuffer(t) -> ArrayBuffer with the contiguous CPU bytes
FN(toBuffer) {
  ENV;
  ST_TRY
  at::Tensor c = T(0).detach().to(at::kCPU).contiguous();
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, c.nbytes());
  if (c.nbytes()) std::memcpy(ab.Data(), c.data_ptr(), c.nbytes());
  return ab;
  ST_CATCH(env)
}

FN(item) {
  ENV;
  ST_TRY
  at::Tensor& t = T(0);
  if (t.numel() != 1) throw Napi::Error::New(env, "item(): a tensor with " + std::to_string(t.numel()) + " elements cannot be converted to a number");
  at::Scalar s = t.item();
  if (s.isBoolean()) return Napi::Boolean::New(env, s.toBool());
  return Napi::Number::New(env, s.toDouble());
  ST_CATCH(env)
}

FN(shape) { ENV; return toJsInts(env, T(0).sizes()); }
FN(strides) { ENV; return toJsInts(env, T(0).strides()); }
FN(storageOffset) { ENV; return Napi::Number::New(env, double(T(0).storage_offset())); }
FN(dtype) { ENV; return Napi::Number::New(env, int(T(0).scalar_type())); }
FN(device) { ENV; return Napi::String::New(env, T(0).device().str()); }
FN(isContiguous) { ENV; return Napi::Boolean::New(env, T(0).is_contiguous()); }
// Identity of the storage, to find tensors that share memory (e.g. when saving).
FN(storageId) {
  ENV;
  at::Tensor& t = T(0);
  return Napi::Number::New(env, t.has_storage() ? double(reinterpret_cast<uintptr_t>(t.storage().data())) : 0);
}
FN(sameTensor) { ENV; return Napi::Boolean::New(env, T(0).is_same(T(1))); }

FN(dispose) {
  ENV;
  if (Box* b = boxOf(info[0])) release(env, b);
  return env.Undefined();
}
FN(isDisposed) {
  ENV;
  Box* b = boxOf(info[0]);
  return Napi::Boolean::New(env, !b || !b->t.defined());
}

// ---- autograd ----
FN(requiresGrad) { ENV; return Napi::Boolean::New(env, T(0).requires_grad()); }
FN(setRequiresGrad) {
  ENV;
  ST_TRY
  T(0).requires_grad_(info[1].ToBoolean());
  return env.Undefined();
  ST_CATCH(env)
}
FN(grad) { ENV; return wrap(env, T(0).grad()); }
FN(setGrad) {
  ENV;
  ST_TRY
  at::Tensor& t = T(0);
  t.mutable_grad() = info[1].IsUndefined() || info[1].IsNull() ? at::Tensor() : T(1);
  return env.Undefined();
  ST_CATCH(env)
}
// moveTo(t, device): the handle now holds t moved to the device, detached, with t's gradient flag
// (like PyTorch's module.to(), which makes new Parameters when set_data cannot cross devices,
// e.g. CPU to meta); the JS object, so every module and optimizer reference, stays the same.
FN(moveTo) {
  ENV;
  ST_TRY
  Box* b = boxOf(info[0]);
  at::Tensor& t = T(0);
  at::Tensor moved = t.detach().to(c10::Device(info[1].As<Napi::String>().Utf8Value()));
  if (moved.is_same(t)) return env.Undefined();
  if (t.requires_grad()) moved.requires_grad_(true);
  if (b->reported) Napi::MemoryManagement::AdjustExternalMemory(env, -b->reported);
  b->t = std::move(moved);
  b->reported = reportedBytes(b->t);
  if (b->reported) Napi::MemoryManagement::AdjustExternalMemory(env, b->reported);
  return env.Undefined();
  ST_CATCH(env)
}
FN(isLeaf) { ENV; return Napi::Boolean::New(env, T(0).is_leaf()); }
// backward(t, gradient?, retainGraph?)
FN(backward) {
  ENV;
  ST_TRY
  at::Tensor& t = T(0);
  at::Tensor g = info[1].IsUndefined() || info[1].IsNull() ? at::Tensor() : T(1);
  c10::optional<bool> retain;
  if (info[2].IsBoolean()) retain = info[2].As<Napi::Boolean>().Value();
  t.backward(g, retain, false);
  return env.Undefined();
  ST_CATCH(env)
}
FN(setGradEnabled) {
  ENV;
  c10::GradMode::set_enabled(info[0].ToBoolean());
  return env.Undefined();
}
FN(isGradEnabled) { ENV; return Napi::Boolean::New(env, c10::GradMode::is_enabled()); }

// ---- autocast: the AutocastCPU / AutocastCUDA dispatch keys of the calling thread ----
// libtorch 2.4 replaced the per-device functions by ones taking the device type.
at::DeviceType autocastDevice(Napi::Env env, const Napi::Value& v) {
  const std::string d = v.As<Napi::String>().Utf8Value();
  if (d == "cpu") return at::kCPU;
  if (d == "cuda") return at::kCUDA;
  throw Napi::Error::New(env, "autocast: device type must be 'cpu' or 'cuda', got '" + d + "'");
}
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocastEnabled(at::DeviceType d) { return at::autocast::is_autocast_enabled(d); }
at::ScalarType autocastDtype(at::DeviceType d) { return at::autocast::get_autocast_dtype(d); }
void applyAutocast(at::DeviceType d, bool on, at::ScalarType t) {
  at::autocast::set_autocast_enabled(d, on);
  at::autocast::set_autocast_dtype(d, t);
}
#else
bool autocastEnabled(at::DeviceType d) { return d == at::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled(); }
at::ScalarType autocastDtype(at::DeviceType d) { return d == at::kCPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype(); }
void applyAutocast(at::DeviceType d, bool on, at::ScalarType t) {
  if (d == at::kCPU) {
    at::autocast::set_cpu_enabled(on);
    at::autocast::set_autocast_cpu_dtype(t);
  } else {
    at::autocast::set_enabled(on);
    at::autocast::set_autocast_gpu_dtype(t);
  }
}
#endif
// autocastState(device) -> [enabled, dtype code]
FN(autocastState) {
  ENV;
  ST_TRY
  const at::DeviceType d = autocastDevice(env, info[0]);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Boolean::New(env, autocastEnabled(d)));
  out.Set(1u, Napi::Number::New(env, int(autocastDtype(d))));
  return out;
  ST_CATCH(env)
}
// setAutocast(device, enabled, dtype code, entering): like torch.autocast's __enter__/__exit__,
// counts nesting and drops the cache of cast weights when the outermost scope is left.
FN(setAutocast) {
  ENV;
  ST_TRY
  const at::DeviceType d = autocastDevice(env, info[0]);
  applyAutocast(d, info[1].ToBoolean(), scalarTypeFromJs(env, info[2]));
  if (info[3].ToBoolean()) at::autocast::increment_nesting();
  else if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  return env.Undefined();
  ST_CATCH(env)
}

// ---- random numbers ----
FN(manualSeed) {
  ENV;
  ST_TRY
  uint64_t seed = info[0].IsBigInt() ? info[0].As<Napi::BigInt>().Uint64Value(nullptr) : uint64_t(info[0].As<Napi::Number>().Int64Value());
  {
    auto gen = at::globalContext().defaultGenerator(at::kCPU);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  }
  int n = at::detail::getCUDAHooks().getNumGPUs();
  for (int i = 0; i < n; i++) {
    auto gen = at::globalContext().defaultGenerator(c10::Device(at::kCUDA, i));
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  }
  return env.Undefined();
  ST_CATCH(env)
}
// The default generator of a device: the CPU's, or a GPU's ('cuda:N'), whose state a resumed
// CUDA run restores too (Gumbel noise is drawn on the device).
at::Generator generatorOf(const Napi::Value& v) {
  const c10::Device d = v.IsString() ? c10::Device(v.As<Napi::String>().Utf8Value()) : c10::Device(at::kCPU);
  return at::globalContext().defaultGenerator(d.is_cuda() && !d.has_index() ? c10::Device(at::kCUDA, 0) : d);
}
// getRngState(device?) -> uint8 tensor
FN(getRngState) {
  ENV;
  ST_TRY
  auto gen = generatorOf(info[0]);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return wrap(env, gen.get_state());
  ST_CATCH(env)
}
// setRngState(state, device?)
FN(setRngState) {
  ENV;
  ST_TRY
  auto gen = generatorOf(info[1]);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(T(0));
  return env.Undefined();
  ST_CATCH(env)
}

// ---- threads, memory, devices ----
FN(setNumThreads) {
  ENV;
  ST_TRY
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n < 1) throw Napi::RangeError::New(env, "setNumThreads: expected a positive integer, got " + std::to_string(n));
  at::set_num_threads(n);
  return env.Undefined();
  ST_CATCH(env)
}
FN(getNumThreads) { ENV; return Napi::Number::New(env, at::get_num_threads()); }
FN(setExternalReporting) {
  ENV;
  reportExternal = info[0].ToBoolean().Value();
  return env.Undefined();
}
FN(liveTensors) { ENV; return Napi::Number::New(env, double(liveHandles.load())); }
FN(cudaDeviceCount) { ENV; return Napi::Number::New(env, at::detail::getCUDAHooks().getNumGPUs()); }
FN(version) { ENV; return Napi::String::New(env, TORCH_VERSION); }

}  // namespace

Napi::Value wrap(Napi::Env env, at::Tensor t) {
  if (!t.defined()) return env.Undefined();
  Box* b = new Box();
  b->t = std::move(t);
  b->reported = reportedBytes(b->t);
  ++liveHandles;
  auto ext = Napi::External<Box>::New(env, b, [](Napi::Env env, Box* b) {
    release(env, b);
    b->magic = 0;
    delete b;
  });
  if (b->reported) Napi::MemoryManagement::AdjustExternalMemory(env, b->reported);
  return ext;
}


at::Tensor& unwrap(Napi::Env env, const Napi::Value& v, const char* what) {
  Box* b = boxOf(v);
  if (!b) throw Napi::TypeError::New(env, std::string(what) + ": expected a Tensor");
  if (!b->t.defined()) throw Napi::Error::New(env, std::string(what) + ": the tensor was disposed");
  return b->t;
}

at::Tensor& unwrap(Napi::Env env, const Napi::Value& v, const std::string& op, const std::string& arg) {
  Box* b = boxOf(v);
  if (!b) throw Napi::TypeError::New(env, op + ": argument '" + arg + "' expected a Tensor");
  if (!b->t.defined()) throw Napi::Error::New(env, op + ": argument '" + arg + "' is a disposed tensor");
  return b->t;
}

at::ScalarType scalarTypeFromJs(Napi::Env env, const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, "expected a dtype code");
  int code = v.As<Napi::Number>().Int32Value();
  if (code < 0 || code >= int(at::ScalarType::NumOptions)) throw Napi::RangeError::New(env, "unknown dtype code " + std::to_string(code));
  return static_cast<at::ScalarType>(code);
}

}  // namespace st

using namespace st;

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  installAllocator();
#define EXPORT(name) exports.Set(#name, Napi::Function::New(env, name, #name))
  EXPORT(fromBuffer);
  EXPORT(toBuffer);
  EXPORT(item);
  EXPORT(shape);
  EXPORT(strides);
  EXPORT(storageOffset);
  EXPORT(dtype);
  EXPORT(device);
  EXPORT(isContiguous);
  EXPORT(storageId);
  EXPORT(sameTensor);
  EXPORT(dispose);
  EXPORT(isDisposed);
  EXPORT(requiresGrad);
  EXPORT(setRequiresGrad);
  EXPORT(grad);
  EXPORT(setGrad);
  EXPORT(isLeaf);
  EXPORT(moveTo);
  EXPORT(backward);
  EXPORT(setGradEnabled);
  EXPORT(isGradEnabled);
  EXPORT(autocastState);
  EXPORT(setAutocast);
  EXPORT(manualSeed);
  EXPORT(getRngState);
  EXPORT(setRngState);
  EXPORT(setNumThreads);
  EXPORT(getNumThreads);
  EXPORT(setExternalReporting);
  EXPORT(liveTensors);
  EXPORT(cudaDeviceCount);
  EXPORT(version);
  EXPORT(allocatorStats);
  EXPORT(emptyCache);
#undef EXPORT
  initOps(env, exports);
  initDist(env, exports);
  return exports;
}

NODE_API_MODULE(spottune_native, Init)
