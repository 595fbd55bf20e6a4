// spottune::conv3x3 — 3×3 convolution, stride 1, padding 1, no bias, by Winograd's minimal
// filtering F(4×4, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
// 2016). Each 4×4 output tile costs 36 multiplications per channel pair instead of 144, so
// the forward pass, the input gradient (the same convolution with transposed, flipped
// weights) and the weight gradient all do a quarter of direct convolution's multiplications.
// These convolutions carry most of a ResNet's training time, and on a CPU without AVX-512
// oneDNN has no Winograd kernel of its own.
//
// Layout: activations are channels-last (NHWC), so each tile position is a contiguous run of
// channels and the transforms work on 8 channels per AVX2 register. Tiles are processed in
// chunks small enough for the transformed data to stay in the core's L2 cache:
//   V[ξ][t][c]  input tiles transformed (Bᵀ d B), ξ one of the 36 positions of a 6×6 tile
//   U[ξ][c][k]  weights transformed (G g Gᵀ), once per call
//   M[ξ][t][k]  = Σ_c V[ξ][t][c] · U[ξ][c][k]: 36 small matrix products per chunk
//   output tile = Aᵀ M A
// With few tiles (late stages, small batches) U is not written out: it is made block by
// block of channels inside the products (see forwardImpl and weightGradImpl).
// Any other case (other dtypes or devices, channel counts that are not multiples of 8, a CPU
// without AVX2 and FMA) is passed to at::conv2d unchanged.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <algorithm>

#include "../common.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace st {
namespace {

#if defined(__x86_64__)  // the kernels are AVX2; elsewhere every convolution stays direct

constexpr int kXi = 36;  // positions in a 6×6 transformed tile
constexpr int64_t kL2Budget = 768 * 1024;  // bytes of V and M chunks per thread
constexpr int64_t kBatchBudget = 8 << 20;  // bytes of V and Z per batch of the weight gradient
constexpr int64_t kFewTiles = 128;  // up to this many tiles, the paths that block the channels
// The weight transform G (6×3); U = G g Gᵀ.
const float kG[6][3] = {{0.25f, 0, 0}, {-1.f / 6, -1.f / 6, -1.f / 6}, {-1.f / 6, 1.f / 6, -1.f / 6}, {1.f / 24, 1.f / 12, 1.f / 6}, {1.f / 24, -1.f / 12, 1.f / 6}, {0, 0, 1}};

#pragma GCC push_options
#pragma GCC target("avx2,fma")
#pragma GCC optimize("O3")

using V8 = __m256;
inline V8 ld(const float* p) { return _mm256_loadu_ps(p); }
inline void st8(float* p, V8 v) { _mm256_storeu_ps(p, v); }
inline V8 k8(float x) { return _mm256_set1_ps(x); }
inline V8 add(V8 a, V8 b) { return _mm256_add_ps(a, b); }
inline V8 sub(V8 a, V8 b) { return _mm256_sub_ps(a, b); }
inline V8 fma(V8 a, V8 b, V8 c) { return _mm256_fmadd_ps(a, b, c); }  // a·b + c

// Bᵀ along one axis: 6 inputs → 6 outputs.
inline void bt6(const V8 d[6], V8 r[6]) {
  const V8 four = k8(4), two = k8(2);
  r[0] = fma(four, d[0], fma(k8(-5), d[2], d[4]));
  r[1] = sub(add(d[3], d[4]), _mm256_mul_ps(four, add(d[1], d[2])));
  r[2] = add(sub(d[4], d[3]), _mm256_mul_ps(four, sub(d[1], d[2])));
  r[3] = add(sub(d[4], d[2]), _mm256_mul_ps(two, sub(d[3], d[1])));
  r[4] = sub(sub(d[4], d[2]), _mm256_mul_ps(two, sub(d[3], d[1])));
  r[5] = fma(four, d[1], fma(k8(-5), d[3], d[5]));
}

// Aᵀ along one axis: 6 inputs → 4 outputs.
inline void at4(const V8 m[6], V8 o[4]) {
  const V8 p12 = add(m[1], m[2]), m12 = sub(m[1], m[2]), p34 = add(m[3], m[4]), m34 = sub(m[3], m[4]);
  o[0] = add(add(m[0], p12), p34);
  o[1] = fma(k8(2), m34, m12);
  o[2] = fma(k8(4), p34, p12);
  o[3] = add(fma(k8(8), m34, m12), m[5]);
}

// A along one axis (used for the weight gradient): 4 inputs → 6 outputs.
inline void a6(const V8 y[4], V8 z[6]) {
  const V8 p02 = add(y[0], y[2]), p13 = add(y[1], y[3]);
  const V8 q02 = fma(k8(4), y[2], y[0]), q13 = fma(k8(4), y[3], y[1]);
  z[0] = y[0];
  z[1] = add(p02, p13);
  z[2] = sub(p02, p13);
  z[3] = fma(k8(2), q13, q02);
  z[4] = sub(q02, _mm256_mul_ps(k8(2), q13));
  z[5] = y[3];
}

// Transforms the 6×6 input patches of tiles [t0, t0+n) into V (row stride C per tile, plane
// stride vPlane per ξ). Tile t covers output rows 4·th.. and columns 4·tw..; its patch starts
// one row and one column earlier (the padding), and reads zeros outside the image.
void inputTransform(const float* x, int64_t H, int64_t W, int64_t C, int64_t tilesH, int64_t tilesW, int64_t t0, int64_t n, float* v, int64_t vPlane) {
  const int64_t perImage = tilesH * tilesW;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = t0 + i, img = t / perImage, th = (t % perImage) / tilesW, tw = t % tilesW;
    const int64_t h0 = 4 * th - 1, w0 = 4 * tw - 1;
    const float* base = x + img * H * W * C;
    for (int64_t c = 0; c < C; c += 8) {
      V8 d[6][6], r[6][6];
      for (int a = 0; a < 6; ++a)
        for (int b = 0; b < 6; ++b) {
          const int64_t h = h0 + a, w = w0 + b;
          d[a][b] = (h >= 0 && h < H && w >= 0 && w < W) ? ld(base + (h * W + w) * C + c) : _mm256_setzero_ps();
        }
      for (int b = 0; b < 6; ++b) {  // columns: r[·][b] = Bᵀ d[·][b]
        V8 col[6], out[6];
        for (int a = 0; a < 6; ++a) col[a] = d[a][b];
        bt6(col, out);
        for (int a = 0; a < 6; ++a) r[a][b] = out[a];
      }
      for (int a = 0; a < 6; ++a) {  // rows: V[a][·] = r[a][·] B
        V8 out[6];
        bt6(r[a], out);
        for (int b = 0; b < 6; ++b) st8(v + (a * 6 + b) * vPlane + i * C + c, out[b]);
      }
    }
  }
}

// Transforms the 4×4 output-gradient tiles [t0, t0+n) of dy (NHWC, K channels) into Z = A dY Aᵀ.
void gradTransform(const float* dy, int64_t H, int64_t W, int64_t K, int64_t tilesH, int64_t tilesW, int64_t t0, int64_t n, float* z, int64_t zPlane) {
  const int64_t perImage = tilesH * tilesW;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = t0 + i, img = t / perImage, th = (t % perImage) / tilesW, tw = t % tilesW;
    const float* base = dy + img * H * W * K;
    for (int64_t k = 0; k < K; k += 8) {
      V8 y[4][4], r[6][4];
      for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 4; ++b) {
          const int64_t h = 4 * th + a, w = 4 * tw + b;
          y[a][b] = (h < H && w < W) ? ld(base + (h * W + w) * K + k) : _mm256_setzero_ps();
        }
      for (int b = 0; b < 4; ++b) {
        V8 col[4], out[6];
        for (int a = 0; a < 4; ++a) col[a] = y[a][b];
        a6(col, out);
        for (int a = 0; a < 6; ++a) r[a][b] = out[a];
      }
      for (int a = 0; a < 6; ++a) {
        V8 out[6];
        a6(r[a], out);
        for (int b = 0; b < 6; ++b) st8(z + (a * 6 + b) * zPlane + i * K + k, out[b]);
      }
    }
  }
}

// Output tiles [t0, t0+n) = Aᵀ M A for output channels [k0, k0+kn), written into y (NHWC, K
// channels), clipped at the border. M[ξ][i][k − k0] is m[ξ·mPlane + i·ldm + k − k0].
void outputTransform(const float* m, int64_t mPlane, int64_t ldm, int64_t H, int64_t W, int64_t K, int64_t k0, int64_t kn, int64_t tilesH, int64_t tilesW, int64_t t0, int64_t n, float* y) {
  const int64_t perImage = tilesH * tilesW;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = t0 + i, img = t / perImage, th = (t % perImage) / tilesW, tw = t % tilesW;
    float* base = y + img * H * W * K + k0;
    for (int64_t k = 0; k < kn; k += 8) {
      V8 r[6][4];
      for (int b = 0; b < 6; ++b) {  // columns: r[·][b] = Aᵀ m[·][b]
        V8 col[6], out[4];
        for (int a = 0; a < 6; ++a) col[a] = ld(m + (a * 6 + b) * mPlane + i * ldm + k);
        at4(col, out);
        for (int a = 0; a < 4; ++a) r[b][a] = out[a];
      }
      for (int a = 0; a < 4; ++a) {  // rows
        V8 row[6], out[4];
        for (int b = 0; b < 6; ++b) row[b] = r[b][a];
        at4(row, out);
        const int64_t h = 4 * th + a;
        if (h >= H) break;
        for (int b = 0; b < 4 && 4 * tw + b < W; ++b) st8(base + (h * W + 4 * tw + b) * K + k, out[b]);
      }
    }
  }
}

// C[R×8·NV] (=|+=) Σ_p A(i,p)·B(p,j), A(i,p) = a[i·rsA + p·csA], B(p,j) = b[p·ldb + j].
template <int R, int NV>
void microKernel(int64_t P, const float* a, int64_t rsA, int64_t csA, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  V8 acc[R][NV];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = _mm256_setzero_ps();
  for (int64_t p = 0; p < P; ++p) {
    V8 bv[NV];
    for (int j = 0; j < NV; ++j) bv[j] = ld(b + p * ldb + 8 * j);
    for (int i = 0; i < R; ++i) {
      const V8 av = _mm256_broadcast_ss(a + i * rsA + p * csA);
      for (int j = 0; j < NV; ++j) acc[i][j] = fma(av, bv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < NV; ++j) {
      float* out = c + i * ldc + 8 * j;
      st8(out, accumulate ? add(ld(out), acc[i][j]) : acc[i][j]);
    }
}

// R ≤ 6 rows × 16 columns with the accumulators named, so they stay in registers (GCC spills
// an array of them to the stack on every iteration).
template <int R>
void kernelRx16(int64_t P, const float* a, int64_t rsA, int64_t csA, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  V8 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t p = 0; p < P; ++p) {
    const V8 b0 = ld(b + p * ldb), b1 = ld(b + p * ldb + 8);
    const float* ap = a + p * csA;
    V8 av = _mm256_broadcast_ss(ap);
    c00 = fma(av, b0, c00), c01 = fma(av, b1, c01);
    if constexpr (R > 1) av = _mm256_broadcast_ss(ap + rsA), c10 = fma(av, b0, c10), c11 = fma(av, b1, c11);
    if constexpr (R > 2) av = _mm256_broadcast_ss(ap + 2 * rsA), c20 = fma(av, b0, c20), c21 = fma(av, b1, c21);
    if constexpr (R > 3) av = _mm256_broadcast_ss(ap + 3 * rsA), c30 = fma(av, b0, c30), c31 = fma(av, b1, c31);
    if constexpr (R > 4) av = _mm256_broadcast_ss(ap + 4 * rsA), c40 = fma(av, b0, c40), c41 = fma(av, b1, c41);
    if constexpr (R > 5) av = _mm256_broadcast_ss(ap + 5 * rsA), c50 = fma(av, b0, c50), c51 = fma(av, b1, c51);
  }
  const V8 out[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < 2; ++j) {
      float* o = c + i * ldc + 8 * j;
      st8(o, accumulate ? add(ld(o), out[i][j]) : out[i][j]);
    }
}

template <int NV>
void rowBlock(int R, int64_t P, const float* a, int64_t rsA, int64_t csA, const float* b, int64_t ldb, float* c, int64_t ldc, bool acc) {
  if constexpr (NV == 2) {
    switch (R) {
      case 6: return kernelRx16<6>(P, a, rsA, csA, b, ldb, c, ldc, acc);
      case 5: return kernelRx16<5>(P, a, rsA, csA, b, ldb, c, ldc, acc);
      case 4: return kernelRx16<4>(P, a, rsA, csA, b, ldb, c, ldc, acc);
      case 3: return kernelRx16<3>(P, a, rsA, csA, b, ldb, c, ldc, acc);
      case 2: return kernelRx16<2>(P, a, rsA, csA, b, ldb, c, ldc, acc);
      default: return kernelRx16<1>(P, a, rsA, csA, b, ldb, c, ldc, acc);
    }
  } else {
    switch (R) {
      case 6: return microKernel<6, NV>(P, a, rsA, csA, b, ldb, c, ldc, acc);
      case 5: return microKernel<5, NV>(P, a, rsA, csA, b, ldb, c, ldc, acc);
      case 4: return microKernel<4, NV>(P, a, rsA, csA, b, ldb, c, ldc, acc);
      case 3: return microKernel<3, NV>(P, a, rsA, csA, b, ldb, c, ldc, acc);
      case 2: return microKernel<2, NV>(P, a, rsA, csA, b, ldb, c, ldc, acc);
      default: return microKernel<1, NV>(P, a, rsA, csA, b, ldb, c, ldc, acc);
    }
  }
}

// C[M×N] (=|+=) A[M×P]·B[P×N]; N a multiple of 8. Column panels of 16 outer, so the panel
// of B stays in L1 while the rows of A stream past it.
void gemm(int64_t M, int64_t N, int64_t P, const float* a, int64_t rsA, int64_t csA, const float* b, int64_t ldb, float* c, int64_t ldc, bool acc) {
  for (int64_t j = 0; j < N; j += 16) {
    const bool wide = N - j >= 16;
    for (int64_t i = 0; i < M; i += 6) {
      const int R = static_cast<int>(std::min<int64_t>(6, M - i));
      if (wide) rowBlock<2>(R, P, a + i * rsA, rsA, csA, b + j, ldb, c + i * ldc + j, ldc, acc);
      else rowBlock<1>(R, P, a + i * rsA, rsA, csA, b + j, ldb, c + i * ldc + j, ldc, acc);
    }
  }
}

// U[ξ][c][k] = (G g Gᵀ)[ξ] for g = w[k][c], for the six positions ξ = (p, 0..5) of row p,
// input channels [c0, c0+cn) and output channels [k0, k0+kn), into buf[q][c − c0][k − k0].
// The weights are laid out wt[c][a][b][k], so 8 output channels k are one register (K is a
// multiple of 8); with `flip` the taps are read reversed, wt[c][2−a][2−b][k].
void transformWeightRow(const float* wt, int64_t K, bool flip, int p, int64_t c0, int64_t cn, int64_t k0, int64_t kn, float* buf) {
  for (int64_t c = 0; c < cn; ++c)
    for (int64_t k = 0; k < kn; k += 8) {
      const float* g = wt + (c0 + c) * 9 * K + k0 + k;
      auto tap = [&](int a, int b) { return ld(g + (flip ? (2 - a) * 3 + 2 - b : a * 3 + b) * K); };
      V8 t[3];
      for (int b = 0; b < 3; ++b)  // t = (G g)[p]
        t[b] = fma(k8(kG[p][0]), tap(0, b), fma(k8(kG[p][1]), tap(1, b), _mm256_mul_ps(k8(kG[p][2]), tap(2, b))));
      for (int q = 0; q < 6; ++q)  // U[p][q] = t Gᵀ
        st8(buf + (q * cn + c) * kn + k, fma(k8(kG[q][0]), t[0], fma(k8(kG[q][1]), t[1], _mm256_mul_ps(k8(kG[q][2]), t[2]))));
    }
}

// Gᵀ along one axis (used for the weight gradient): 6 inputs → 3 outputs.
inline void gt3(const V8 d[6], V8 t[3]) {
  const V8 s12 = add(d[1], d[2]), m12 = sub(d[1], d[2]), s34 = add(d[3], d[4]), m34 = sub(d[3], d[4]);
  t[0] = fma(k8(1.f / 24), s34, fma(k8(-1.f / 6), s12, _mm256_mul_ps(k8(0.25f), d[0])));
  t[1] = fma(k8(1.f / 12), m34, _mm256_mul_ps(k8(-1.f / 6), m12));
  t[2] = fma(k8(1.f / 6), sub(s34, s12), d[5]);
}

// dW = Gᵀ dU G for cn input × kn output channels, from dU[ξ][c][k] = du[ξ·duPlane + c·ldu + k]
// into dst[c][a][b][k] = dst[(c·9 + 3a + b)·ldDst + k].
void weightGradOutput(const float* du, int64_t duPlane, int64_t ldu, int64_t cn, int64_t kn, float* dst, int64_t ldDst) {
  for (int64_t c = 0; c < cn; ++c)
    for (int64_t k = 0; k < kn; k += 8) {
      V8 t[3][6];
      for (int q = 0; q < 6; ++q) {  // columns: t[·][q] = Gᵀ dU[·][q]
        V8 col[6], out[3];
        for (int p = 0; p < 6; ++p) col[p] = ld(du + (p * 6 + q) * duPlane + c * ldu + k);
        gt3(col, out);
        for (int a = 0; a < 3; ++a) t[a][q] = out[a];
      }
      for (int a = 0; a < 3; ++a) {  // rows: dW[a][·] = t[a][·] G
        V8 out[3];
        gt3(t[a], out);
        for (int b = 0; b < 3; ++b) st8(dst + (c * 9 + a * 3 + b) * ldDst + k, out[b]);
      }
    }
}

// dst[(j·9 + t)·ldDst + i] = src[(i·9 + t)·ldSrc + j] for i < rows, j < cols and the 9 taps t:
// swaps the channel axes of 3×3 weights ([K][3][3][C] ↔ [C][3][3][K]) in 8×8 register
// transposes (libtorch's strided copy took half of a forward call at 512 channels). rows and
// cols are multiples of 8.
void swapChannels(const float* src, int64_t ldSrc, int64_t rows, int64_t cols, float* dst, int64_t ldDst) {
  for (int64_t i = 0; i < rows; i += 8)
    for (int t = 0; t < 9; ++t)
      for (int64_t j = 0; j < cols; j += 8) {
        V8 r[8], u[8], v[8];
        for (int a = 0; a < 8; ++a) r[a] = ld(src + ((i + a) * 9 + t) * ldSrc + j);
        for (int a = 0; a < 8; a += 2) u[a] = _mm256_unpacklo_ps(r[a], r[a + 1]), u[a + 1] = _mm256_unpackhi_ps(r[a], r[a + 1]);
        for (int a = 0; a < 8; a += 4)
          for (int b = 0; b < 2; ++b) {
            v[a + b] = _mm256_shuffle_ps(u[a + b], u[a + b + 2], 0x44);
            v[a + b + 2] = _mm256_shuffle_ps(u[a + b], u[a + b + 2], 0xEE);
          }
        // v[0..3] hold columns 0, 2, 1, 3 of rows 0–3 (and 4, 6, 5, 7 in their high halves), v[4..7] the same for rows 4–7.
        const int order[8] = {0, 2, 1, 3, 0, 2, 1, 3};
        for (int b = 0; b < 8; ++b) {
          const V8 lo = v[order[b]], hi = v[4 + order[b]];
          st8(dst + ((j + b) * 9 + t) * ldDst + i, b < 4 ? _mm256_permute2f128_ps(lo, hi, 0x20) : _mm256_permute2f128_ps(lo, hi, 0x31));
        }
      }
}

#pragma GCC pop_options

// Below this many 4×4 output tiles, transforming the weights (36·C·K values, and as many
// for the weight gradient) costs about what the saved multiplications gain. Measured on this
// project's machine (training: forward and both gradients): at 16 tiles 64 to 128 channels
// break even and 256 to 512 channels are 1.1–1.5× faster than direct convolution (ResNet-50's
// layer4 at batch 16, 112 pixels); 64 tiles of 256 channels 1.3×, 4096 tiles of 64 channels 2.2×.
constexpr int64_t kMinTiles = 16;
// The transformed weights take 36·C·K floats: beyond 512×512 channels (37.7 MB) they would
// outgrow the caches and memory budget they were measured in; such convolutions stay direct.
constexpr int64_t kMaxChannelProduct = 512 * 512;

bool eligible(const at::Tensor& x, const at::Tensor& w) {
  return cpuHasAvx2() && x.dim() == 4 && w.dim() == 4 && x.device().is_cpu() && w.device().is_cpu() &&
         x.scalar_type() == at::kFloat && w.scalar_type() == at::kFloat && w.size(2) == 3 && w.size(3) == 3 &&
         x.size(1) == w.size(1) && w.size(0) % 8 == 0 && w.size(1) % 8 == 0 && w.size(0) * w.size(1) <= kMaxChannelProduct &&
         x.size(0) * ((x.size(2) + 3) / 4) * ((x.size(3) + 3) / 4) >= kMinTiles;
}

struct Geometry {
  int64_t N, C, H, W, tilesH, tilesW, tiles;
  explicit Geometry(const at::Tensor& x) : N(x.size(0)), C(x.size(1)), H(x.size(2)), W(x.size(3)), tilesH((H + 3) / 4), tilesW((W + 3) / 4), tiles(N * tilesH * tilesW) {}
  // Tiles per chunk of the forward pass: the V and M chunks of one thread fit the L2 budget,
  // but at least 18 tiles, below which reading U once per chunk costs more than it saves.
  int64_t chunk(int64_t K) const { return std::max<int64_t>(18, std::min<int64_t>(240, kL2Budget / (kXi * (C + K) * 4)) / 6 * 6); }
};

// Output channels per block of the few-tiles paths: up to 64, and at least one block per thread.
int64_t outputBlock(int64_t K) {
  const int64_t perThread = (K / std::max<int64_t>(1, at::get_num_threads()) + 15) / 16 * 16;
  return std::clamp<int64_t>(perThread, 16, 64);
}

// One convolution's weights as the transforms read them: t[in][3][3][out], taps reversed
// when `flip`; or, when `outMajor`, t[out][3][3][in] (channels-last weights, read as they are
// and swapped block by block, or all at once for the many-tiles path).
struct Weights {
  at::Tensor t;
  int64_t in, out;
  bool flip, outMajor;
};

// For y = conv(x, w): in = C, out = K.
Weights forwardWeights(const at::Tensor& w) {
  if (w.is_contiguous(at::MemoryFormat::ChannelsLast)) return {w, w.size(1), w.size(0), false, true};
  return {w.permute({1, 2, 3, 0}).contiguous(), w.size(1), w.size(0), false, false};
}

// For the input gradient, the same convolution of the output gradient with w[k][c][2−a][2−b]:
// in = K, out = C, and channels-last weights already are [k][a][b][c] in memory.
Weights inputGradWeights(const at::Tensor& w) {
  return {w.permute({0, 2, 3, 1}).contiguous(), w.size(0), w.size(1), true, false};
}

// All of src[rows][3][3][cols] swapped into dst[cols][3][3][rows], threads taking blocks of 8 rows.
void swapAll(const float* src, int64_t rows, int64_t cols, float* dst) {
  at::parallel_for(0, rows / 8, 1, [&](int64_t b0, int64_t b1) { swapChannels(src + b0 * 8 * 9 * cols, cols, 8 * (b1 - b0), cols, dst + b0 * 8, rows); });
}

// All of the weights laid out [in][3][3][out].
at::Tensor inputMajor(const Weights& w) {
  if (!w.outMajor) return w.t;
  at::Tensor t = at::empty({w.in, 3, 3, w.out}, w.t.options());
  swapAll(w.t.data_ptr<float>(), w.out, w.in, t.data_ptr<float>());
  return t;
}

// A weight gradient laid out [C][3][3][K] as a [K, C, 3, 3] tensor in the weight's memory format.
at::Tensor asWeight(const at::Tensor& dwt, at::MemoryFormat format) {
  if (format != at::MemoryFormat::ChannelsLast) return dwt.permute({3, 0, 1, 2}).contiguous(format);
  const int64_t C = dwt.size(0), K = dwt.size(3);
  at::Tensor w = at::empty({K, C, 3, 3}, dwt.options().memory_format(format));
  swapAll(dwt.data_ptr<float>(), C, K, w.data_ptr<float>());
  return w;
}

// y = conv2d(x, w, stride 1, padding 1) for eligible x (any layout).
at::Tensor forwardImpl(const at::Tensor& input, const Weights& w) {
  const at::Tensor x = input.contiguous(at::MemoryFormat::ChannelsLast);
  const Geometry g(x);
  const int64_t K = w.out, C = g.C, T = g.chunk(K), threads = at::get_num_threads();
  const float* xp = x.data_ptr<float>();
  at::Tensor y = at::empty({g.N, K, g.H, g.W}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
  float* yp = y.data_ptr<float>();
  if (g.tiles <= kFewTiles) {
    // Few tiles (late stages, small batches): the products are short, so transforming the
    // weights costs as much as multiplying, and all of U (36·C·K floats) would not stay in
    // cache. All tiles are transformed at once; each thread then takes blocks of output
    // channels and, block of input channels by block and row p of positions by row,
    // transforms just that part of the weights into L2 and adds its six products into the
    // block's M, whose output tiles it writes after the last input block.
    const int64_t n = g.tiles, kb = outputBlock(K), cb = std::min<int64_t>(C, 128), blocks = (K + kb - 1) / kb;
    const int64_t perThread = kXi * n * kb + 6 * cb * kb + (w.outMajor ? 9 * cb * kb : 0);
    at::Tensor vt = at::empty({kXi * n * C}, x.options());
    at::Tensor scratch = at::empty({threads, perThread}, x.options());
    float* v = vt.data_ptr<float>();
    const float* wp = w.t.data_ptr<float>();
    at::parallel_for(0, n, 16, [&](int64_t i0, int64_t i1) { inputTransform(xp, g.H, g.W, C, g.tilesH, g.tilesW, i0, i1 - i0, v + i0 * C, n * C); });
    at::parallel_for(0, threads, 1, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        float *m = scratch.data_ptr<float>() + r * perThread, *u = m + kXi * n * kb, *swapped = u + 6 * cb * kb;
        for (int64_t blk = r; blk < blocks; blk += threads) {
          const int64_t k0 = blk * kb, kn = std::min(kb, K - k0);
          for (int64_t c0 = 0; c0 < C; c0 += cb) {
            const int64_t cn = std::min(cb, C - c0);
            if (w.outMajor) swapChannels(wp + k0 * 9 * C + c0, C, kn, cn, swapped, kn);
            for (int p = 0; p < 6; ++p) {
              if (w.outMajor) transformWeightRow(swapped, kn, w.flip, p, 0, cn, 0, kn, u);
              else transformWeightRow(wp, K, w.flip, p, c0, cn, k0, kn, u);
              for (int q = 0; q < 6; ++q) gemm(n, kn, cn, v + (p * 6 + q) * n * C + c0, C, 1, u + q * cn * kn, kn, m + (p * 6 + q) * n * kn, kn, c0 > 0);
            }
          }
          outputTransform(m, n * kn, kn, g.H, g.W, K, k0, kn, g.tilesH, g.tilesW, 0, n, yp);
        }
      }
    });
    return y;
  }
  const at::Tensor wt = inputMajor(w);
  at::Tensor u = at::empty({kXi, C, K}, x.options());
  const float* up = u.data_ptr<float>();
  at::parallel_for(0, 6, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) transformWeightRow(wt.data_ptr<float>(), K, w.flip, int(p), 0, C, 0, K, u.data_ptr<float>() + p * 6 * C * K);
  });
  const int64_t chunks = (g.tiles + T - 1) / T, workers = std::min<int64_t>(threads, chunks);
  // Per-thread V and M chunks, from the caching allocator (a fresh buffer per call would fault its pages in).
  at::Tensor scratch = at::empty({workers, kXi * T * (C + K)}, x.options());
  at::parallel_for(0, workers, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float *v = scratch.data_ptr<float>() + r * kXi * T * (C + K), *m = v + kXi * T * C;
      for (int64_t ch = r; ch < chunks; ch += workers) {
        const int64_t t0 = ch * T, n = std::min(T, g.tiles - t0);
        inputTransform(xp, g.H, g.W, C, g.tilesH, g.tilesW, t0, n, v, T * C);
        for (int xi = 0; xi < kXi; ++xi) gemm(n, K, C, v + xi * T * C, C, 1, up + xi * C * K, K, m + xi * T * K, K, false);
        outputTransform(m, T * K, K, g.H, g.W, K, 0, K, g.tilesH, g.tilesW, t0, n, yp);
      }
    }
  });
  return y;
}

// dL/dweight for y = conv3x3(x, w): dW[k][c] = Gᵀ (Σ_tiles V[ξ][t][c] · Z[ξ][t][k]) G,
// with Z the output gradient's tiles transformed by A dY Aᵀ. Laid out as the weight.
at::Tensor weightGradImpl(const at::Tensor& input, const at::Tensor& gradOut, const at::Tensor& weight) {
  const int64_t K = weight.size(0);
  const at::Tensor x = input.contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor dy = gradOut.contiguous(at::MemoryFormat::ChannelsLast);
  const Geometry g(x);
  const int64_t C = g.C, threads = at::get_num_threads();
  const at::MemoryFormat format = weight.suggest_memory_format();
  const bool channelsLast = format == at::MemoryFormat::ChannelsLast;
  const float *xp = x.data_ptr<float>(), *dyp = dy.data_ptr<float>();
  if (g.tiles <= kFewTiles) {
    // Few tiles: each thread takes blocks of input × output channels, multiplies their 36
    // parts of V and Z into an L2-sized block of dU and transforms that block straight into
    // dW, swapping it into channels-last weights as it goes (writing all of dU and reading
    // it back was bound by memory).
    // Channels-last: dW in its final layout; otherwise [c][a][b][k], rearranged at the end.
    at::Tensor dw = channelsLast ? at::empty({K, C, 3, 3}, x.options().memory_format(format)) : at::empty({C, 3, 3, K}, x.options());
    const int64_t n = g.tiles, kb = outputBlock(K), cb = std::min<int64_t>(C, 64);
    const int64_t kBlocks = (K + kb - 1) / kb, blocks = (C + cb - 1) / cb * kBlocks, perThread = kXi * cb * kb + 9 * cb * kb;
    at::Tensor vz = at::empty({kXi * n * (C + K)}, x.options());
    at::Tensor scratch = at::empty({threads, perThread}, x.options());
    float *v = vz.data_ptr<float>(), *z = v + kXi * n * C, *dwp = dw.data_ptr<float>();
    at::parallel_for(0, n, 16, [&](int64_t i0, int64_t i1) {
      inputTransform(xp, g.H, g.W, C, g.tilesH, g.tilesW, i0, i1 - i0, v + i0 * C, n * C);
      gradTransform(dyp, g.H, g.W, K, g.tilesH, g.tilesW, i0, i1 - i0, z + i0 * K, n * K);
    });
    at::parallel_for(0, threads, 1, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        float *du = scratch.data_ptr<float>() + r * perThread, *block = du + kXi * cb * kb;
        for (int64_t blk = r; blk < blocks; blk += threads) {
          const int64_t c0 = blk / kBlocks * cb, k0 = blk % kBlocks * kb, cn = std::min(cb, C - c0), kn = std::min(kb, K - k0);
          for (int xi = 0; xi < kXi; ++xi) gemm(cn, kn, n, v + xi * n * C + c0, 1, C, z + xi * n * K + k0, K, du + xi * cn * kn, kn, false);
          if (!channelsLast) {
            weightGradOutput(du, cn * kn, kn, cn, kn, dwp + c0 * 9 * K + k0, K);
          } else {
            weightGradOutput(du, cn * kn, kn, cn, kn, block, kn);
            swapChannels(block, kn, cn, kn, dwp + k0 * 9 * C + c0, C);
          }
        }
      }
    });
    return channelsLast ? dw : asWeight(dw, format);
  }
  // Many tiles: the sum over tiles is the long dimension, so tiles go in large batches: all
  // threads transform a batch, then each thread owns some of the 36 positions ξ and adds
  // that batch's product into dU[ξ].
  const int64_t S = std::max<int64_t>(6, kBatchBudget / (kXi * (C + K) * 4));
  at::Tensor dU = at::empty({kXi, C, K}, x.options());  // the first batch writes it, the others add
  at::Tensor scratch = at::empty({kXi * S * (C + K)}, x.options());
  float *du = dU.data_ptr<float>(), *v = scratch.data_ptr<float>(), *z = v + kXi * S * C;
  for (int64_t t0 = 0; t0 < g.tiles; t0 += S) {
    const int64_t n = std::min(S, g.tiles - t0);
    at::parallel_for(0, n, 16, [&](int64_t i0, int64_t i1) {
      inputTransform(xp, g.H, g.W, C, g.tilesH, g.tilesW, t0 + i0, i1 - i0, v + i0 * C, S * C);
      gradTransform(dyp, g.H, g.W, K, g.tilesH, g.tilesW, t0 + i0, i1 - i0, z + i0 * K, S * K);
    });
    at::parallel_for(0, kXi, 1, [&](int64_t x0, int64_t x1) {
      for (int64_t xi = x0; xi < x1; ++xi) gemm(C, K, n, v + xi * S * C, 1, C, z + xi * S * K, K, du + xi * C * K, K, t0 > 0);
    });
  }
  at::Tensor dwt = at::empty({C, 3, 3, K}, x.options());  // [c][a][b][k]
  float* dwp = dwt.data_ptr<float>();
  at::parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) { weightGradOutput(du + c0 * K, C * K, K, c1 - c0, K, dwp + c0 * 9 * K, K); });
  return asWeight(dwt, format);
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct Conv3x3 : public torch::autograd::Function<Conv3x3> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight) {
    ctx->save_for_backward({input, weight});
    return forwardImpl(input, forwardWeights(weight));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &input = saved[0], &weight = saved[1], &grad = grads[0];
    at::Tensor gi, gw;
    if (ctx->needs_input_grad(0)) gi = forwardImpl(grad, inputGradWeights(weight));
    if (ctx->needs_input_grad(1)) gw = weightGradImpl(input, grad, weight);
    return {gi, gw};
  }
};

#endif  // __x86_64__

at::Tensor conv3x3(const at::Tensor& input, const at::Tensor& weight) {
#if defined(__x86_64__)
  if (eligible(input, weight)) return Conv3x3::apply(input, weight);
#endif
  return at::conv2d(input, weight, {}, 1, 1);
}

}  // namespace

TORCH_LIBRARY(spottune, m) {
  m.def("conv3x3(Tensor input, Tensor weight) -> Tensor");
  m.impl("conv3x3", c10::DispatchKey::CompositeImplicitAutograd, TORCH_FN(conv3x3));
}

}  // namespace st
