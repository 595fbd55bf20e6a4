// spottune::mix(frozen, tuned, m) = (1 − m)·frozen + m·tuned, with m one weight per image
// ([B, 1, 1, 1]): SpotTune's mixing of a block's two branches. The forward pass is
// aten::lerp; the backward pass reads the output gradient and both branches once and writes
// both input gradients and the per-image weight gradient Σ g·(tuned − frozen) in that same
// pass. (Autograd's lerp backward makes five tensor operations of it, about eleven passes over
// memory, once per block and step.)
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>

#include "../common.h"

namespace st {
namespace {

// One image: gf = g·(1 − w), gt = g·w; returns Σ g·(t − f).
double imageScalar(const float* g, const float* f, const float* t, float* gf, float* gt, int64_t n, float w) {
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    gf[i] = g[i] * (1 - w);
    gt[i] = g[i] * w;
    total += double(g[i]) * (t[i] - f[i]);
  }
  return total;
}

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
// The same, summed in 8 float lanes per block of 1024 values and across blocks in double (as
// accurate as ATen's cascade sum here).
double imageAvx2(const float* g, const float* f, const float* t, float* gf, float* gt, int64_t n, float w) {
  const __m256 vw = _mm256_set1_ps(w), vk = _mm256_set1_ps(1 - w);
  double total = 0;
  int64_t i = 0;
  while (i + 8 <= n) {
    __m256 acc = _mm256_setzero_ps();
    const int64_t end = std::min(n, i + 1024) & ~int64_t(7);
    for (; i < end; i += 8) {
      const __m256 gv = _mm256_loadu_ps(g + i);
      _mm256_storeu_ps(gf + i, _mm256_mul_ps(gv, vk));
      _mm256_storeu_ps(gt + i, _mm256_mul_ps(gv, vw));
      acc = _mm256_fmadd_ps(gv, _mm256_sub_ps(_mm256_loadu_ps(t + i), _mm256_loadu_ps(f + i)), acc);
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, acc);
    for (float x : lanes) total += x;
  }
  return total + imageScalar(g + i, f + i, t + i, gf + i, gt + i, n - i, w);
}
#pragma GCC pop_options
#endif

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Same shape, dtype float32, dense in the same layout, with every image a contiguous run.
bool fastCase(const at::Tensor& g, const at::Tensor& f, const at::Tensor& t, const at::Tensor& m) {
  if (g.scalar_type() != at::kFloat || f.scalar_type() != at::kFloat || t.scalar_type() != at::kFloat || m.scalar_type() != at::kFloat) return false;
  if (!g.device().is_cpu() || !f.device().is_cpu() || !t.device().is_cpu() || !m.device().is_cpu()) return false;
  if (g.dim() < 1 || g.sizes() != f.sizes() || g.sizes() != t.sizes() || g.strides() != f.strides() || g.strides() != t.strides()) return false;
  if (!g.is_non_overlapping_and_dense() || g.stride(0) != g.numel() / std::max<int64_t>(1, g.size(0))) return false;
  return m.numel() == g.size(0) && m.size(0) == g.size(0);
}

struct Mix : public torch::autograd::Function<Mix> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& frozen, const at::Tensor& tuned, const at::Tensor& m) {
    ctx->save_for_backward({frozen, tuned, m});
    return at::lerp(frozen, tuned, m);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &f = saved[0], &t = saved[1], &m = saved[2];
    const at::Tensor g = grads[0];
    if (!fastCase(g, f, t, m)) {  // any other case: the formula in tensor operations
      const at::Tensor gm = (g * (t - f)).sum_to_size(m.sizes());
      return {g * (1 - m), g * m, gm};
    }
    const int64_t batch = g.size(0), per = g.numel() / std::max<int64_t>(1, batch), ms = m.stride(0);
    at::Tensor gf = at::empty_like(g), gt = at::empty_like(g), gm = at::empty(m.sizes(), m.options());
    const float *gp = g.data_ptr<float>(), *fp = f.data_ptr<float>(), *tp = t.data_ptr<float>(), *mp = m.data_ptr<float>();
    float *gfp = gf.data_ptr<float>(), *gtp = gt.data_ptr<float>(), *gmp = gm.data_ptr<float>();
#if defined(__x86_64__)
    const auto image = cpuHasAvx2() ? imageAvx2 : imageScalar;
#else
    const auto image = imageScalar;
#endif
    at::parallel_for(0, batch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t o = b * per;
        const double sum = image(gp + o, fp + o, tp + o, gfp + o, gtp + o, per, mp[b * ms]);
        gmp[b] = static_cast<float>(sum);
      }
    });
    return {gf, gt, gm};
  }
};

at::Tensor mix(const at::Tensor& frozen, const at::Tensor& tuned, const at::Tensor& m) {
  return Mix::apply(frozen, tuned, m);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(spottune, m) {
  m.def("mix(Tensor frozen, Tensor tuned, Tensor m) -> Tensor");
  m.impl("mix", c10::DispatchKey::CompositeImplicitAutograd, TORCH_FN(mix));
}

}  // namespace st
