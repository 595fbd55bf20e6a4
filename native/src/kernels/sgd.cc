// spottune::sgd_update_ — one SGD step with momentum for one parameter, in a single pass
// over memory. PyTorch 1.13's CPU SGD runs four tensor operations per parameter (weight
// decay, momentum scale, momentum add, parameter update), reading and writing the parameter,
// gradient and buffer twelve times; this reads three arrays and writes two. The arithmetic is
// PyTorch's, with its fused multiply-adds in the same places, so results are identical:
//   d   = grad + weight_decay·param
//   buf = momentum·buf + (1 − dampening)·d
//   d   = nesterov ? d + momentum·buf : buf
//   param −= lr·d
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cmath>
#include <type_traits>

#include "../common.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace st {
namespace {

template <typename T>
void updateScalar(T* p, const T* g, T* b, int64_t i0, int64_t i1, T lr, T momentum, T keep, T wd, bool nesterov) {
  for (int64_t i = i0; i < i1; ++i) {
    T d = wd != 0 ? std::fma(p[i], wd, g[i]) : g[i];
    const T buf = std::fma(d, keep, b[i] * momentum);  // keep = 1 − dampening
    b[i] = buf;
    d = nesterov ? std::fma(buf, momentum, d) : buf;
    p[i] = std::fma(d, -lr, p[i]);
  }
}

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
// The same for float32, 8 lanes at a time. Compiled for a CPU without FMA, std::fma above is
// a call into libm per value, which made the step bound by arithmetic (60 ms of ResNet-50's
// step) rather than by memory; a fused multiply-add rounds once either way, so the results
// are the same bits.
void updateAvx2(float* p, const float* g, float* b, int64_t i0, int64_t i1, float lr, float momentum, float keep, float wd, bool nesterov) {
  const __m256 vwd = _mm256_set1_ps(wd), vm = _mm256_set1_ps(momentum), vkeep = _mm256_set1_ps(keep), vlr = _mm256_set1_ps(-lr);
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    const __m256 pv = _mm256_loadu_ps(p + i), gv = _mm256_loadu_ps(g + i);
    __m256 d = wd != 0 ? _mm256_fmadd_ps(pv, vwd, gv) : gv;
    const __m256 buf = _mm256_fmadd_ps(d, vkeep, _mm256_mul_ps(_mm256_loadu_ps(b + i), vm));
    _mm256_storeu_ps(b + i, buf);
    d = nesterov ? _mm256_fmadd_ps(buf, vm, d) : buf;
    _mm256_storeu_ps(p + i, _mm256_fmadd_ps(d, vlr, pv));
  }
  updateScalar<float>(p, g, b, i, i1, lr, momentum, keep, wd, nesterov);
}
#pragma GCC pop_options
#endif

template <typename T>
void update(T* p, const T* g, T* b, int64_t n, T lr, T momentum, T keep, T wd, bool nesterov) {
  at::parallel_for(0, n, 1 << 15, [&](int64_t i0, int64_t i1) {
#if defined(__x86_64__)
    if constexpr (std::is_same_v<T, float>) {
      if (cpuHasAvx2()) return updateAvx2(p, g, b, i0, i1, lr, momentum, keep, wd, nesterov);
    }
#endif
    updateScalar<T>(p, g, b, i0, i1, lr, momentum, keep, wd, nesterov);
  });
}

void sgdUpdate(const at::Tensor& param, const at::Tensor& grad, const at::Tensor& buf, double lr, double momentum, double dampening, double weightDecay, bool nesterov) {
  TORCH_CHECK(param.sizes() == grad.sizes() && param.sizes() == buf.sizes(), "sgd_update_: shapes differ: ", param.sizes(), ", ", grad.sizes(), ", ", buf.sizes());
  const auto type = param.scalar_type();
  // One pass in memory order: all three contiguous, or all three channels-last. (Strides alone
  // would not do: a [K, C, 1, 1] weight has two stride patterns for one memory order.)
  const auto same = [&](at::MemoryFormat f) { return param.is_contiguous(f) && grad.is_contiguous(f) && buf.is_contiguous(f); };
  const bool fast = param.device().is_cpu() && grad.device().is_cpu() && buf.device().is_cpu() && (type == at::kFloat || type == at::kDouble) &&
                    grad.scalar_type() == type && buf.scalar_type() == type &&
                    (same(at::MemoryFormat::Contiguous) || (param.dim() == 4 && same(at::MemoryFormat::ChannelsLast)));
  if (!fast) {  // other devices, dtypes or layouts: PyTorch's four operations
    const at::Tensor d = weightDecay != 0 ? grad.add(param, weightDecay) : grad;
    buf.mul_(momentum).add_(d, 1.0 - dampening);
    param.add_(nesterov ? d.add(buf, momentum) : buf, -lr);
    return;
  }
  const int64_t n = param.numel();
  if (type == at::kFloat)
    update<float>(param.data_ptr<float>(), grad.data_ptr<float>(), buf.data_ptr<float>(), n, float(lr), float(momentum), float(1.0 - dampening), float(weightDecay), nesterov);
  else
    update<double>(param.data_ptr<double>(), grad.data_ptr<double>(), buf.data_ptr<double>(), n, lr, momentum, 1.0 - dampening, weightDecay, nesterov);
  // In-place writes: let autograd see them, as PyTorch's in-place operations do.
  param.unsafeGetTensorImpl()->bump_version();
  buf.unsafeGetTensorImpl()->bump_version();
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(spottune, m) {
  m.def("sgd_update_(Tensor(a!) param, Tensor grad, Tensor(b!) momentum_buffer, float lr, float momentum, float dampening, float weight_decay, bool nesterov) -> ()");
  m.impl("sgd_update_", c10::DispatchKey::CompositeImplicitAutograd, TORCH_FN(sgdUpdate));
}

}  // namespace st
