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
// Under CPU autocast in bfloat16 the same algorithm takes bfloat16 activations: the transforms
// stay in float32 registers, V and U (Z, for the weight gradient) are rounded to bfloat16 and
// multiplied by AVX-512 BF16 dot products into float32 (twice float32 FMA's multiply-adds per
// instruction); the weights and their gradient stay float32. Its rounding error is about nine
// times oneDNN's bfloat16 direct convolution's (Winograd's transforms amplify it, as they do
// float32's), see docs/performance.md.
// Any other case (other dtypes or devices, channel counts that are not multiples of 8, a CPU
// without AVX2 and FMA, or without AVX-512 BF16 under autocast) is passed to at::conv2d unchanged.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
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

// bfloat16 values are stored as their bits, the upper half of a float32's.
using Bf16 = uint16_t;
inline V8 ld(const Bf16* p) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16)); }
// float32 → bfloat16 bits, rounded to nearest even (as libtorch rounds), in the low half of each
// 32-bit lane; a NaN stays a NaN (adding the rounding bias could carry it into the sign).
inline __m256i bf16Bits(V8 v) {
  const __m256i b = _mm256_castps_si256(v), odd = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
  const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(b, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7fff))), 16);
  return _mm256_blendv_epi8(r, _mm256_set1_epi32(0x7fc0), _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
}
inline void st8(Bf16* p, V8 v) {
  const __m256i r = bf16Bits(v);  // packus keeps 128-bit lanes apart: [r0..3 r0..3 | r4..7 r4..7], then quadwords 0 and 2
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08)));
}

// Where the transforms put element (ξ, i, j..j+7) of a buffer of 36 planes.
// Dense: plain rows of float32 or bfloat16, p[ξ·plane + i·row + j].
template <typename T>
struct Dense {
  T* p;
  int64_t plane, row;
  void put(int64_t xi, int64_t i, int64_t j, V8 v) const { st8(p + xi * plane + i * row + j, v); }
  Dense rows(int64_t i) const { return {p + i * row, plane, row}; }
  Dense planes(int64_t xi) const { return {p + xi * plane, plane, row}; }
};
// Pairs: bfloat16 rows i and i + 1 (i even) interleaved in 32-bit slots, the operand layout of
// the bfloat16 dot product (it sums the products of both halves), so the rows are the summed
// dimension: slot p[ξ·plane + (i/2)·row + j] holds row i in its low half, row i + 1 in its
// high half. The even row must be put first (it clears the high half).
struct Pairs {
  uint32_t* p;
  int64_t plane, row;
  void put(int64_t xi, int64_t i, int64_t j, V8 v) const {
    __m256i* s = reinterpret_cast<__m256i*>(p + xi * plane + (i >> 1) * row + j);
    const __m256i b = bf16Bits(v);
    _mm256_storeu_si256(s, (i & 1) ? _mm256_or_si256(_mm256_loadu_si256(s), _mm256_slli_epi32(b, 16)) : b);
  }
  Pairs rows(int64_t i) const { return {p + i / 2 * row, plane, row}; }  // i even
  Pairs planes(int64_t xi) const { return {p + xi * plane, plane, row}; }
};

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

// Transforms the 6×6 input patches of tiles [t0, t0+n) into V: tile t0 + i, channels c.. are
// put at (ξ, i, c). Tile t covers output rows 4·th.. and columns 4·tw..; its patch starts one
// row and one column earlier (the padding), and reads zeros outside the image.
template <typename T, typename Out>
void inputTransform(const T* x, int64_t H, int64_t W, int64_t C, int64_t tilesH, int64_t tilesW, int64_t t0, int64_t n, const Out& v) {
  const int64_t perImage = tilesH * tilesW;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = t0 + i, img = t / perImage, th = (t % perImage) / tilesW, tw = t % tilesW;
    const int64_t h0 = 4 * th - 1, w0 = 4 * tw - 1;
    const T* base = x + img * H * W * C;
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
        for (int b = 0; b < 6; ++b) v.put(a * 6 + b, i, c, out[b]);
      }
    }
  }
}

// Transforms the 4×4 output-gradient tiles [t0, t0+n) of dy (NHWC, K channels) into Z = A dY Aᵀ,
// tile t0 + i put at (ξ, i, k).
template <typename T, typename Out>
void gradTransform(const T* dy, int64_t H, int64_t W, int64_t K, int64_t tilesH, int64_t tilesW, int64_t t0, int64_t n, const Out& z) {
  const int64_t perImage = tilesH * tilesW;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = t0 + i, img = t / perImage, th = (t % perImage) / tilesW, tw = t % tilesW;
    const T* base = dy + img * H * W * K;
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
        for (int b = 0; b < 6; ++b) z.put(a * 6 + b, i, k, out[b]);
      }
    }
  }
}

// Output tiles [t0, t0+n) = Aᵀ M A for output channels [k0, k0+kn), written into y (NHWC, K
// channels, float32 or bfloat16), clipped at the border. M[ξ][i][k − k0] is m[ξ·mPlane + i·ldm + k − k0].
template <typename T>
void outputTransform(const float* m, int64_t mPlane, int64_t ldm, int64_t H, int64_t W, int64_t K, int64_t k0, int64_t kn, int64_t tilesH, int64_t tilesW, int64_t t0, int64_t n, T* y) {
  const int64_t perImage = tilesH * tilesW;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = t0 + i, img = t / perImage, th = (t % perImage) / tilesW, tw = t % tilesW;
    T* base = y + img * H * W * K + k0;
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
// input channels [c0, c0+cn) and output channels [k0, k0+kn), put at (q, c − c0, k − k0).
// The weights are laid out wt[c][a][b][k], so 8 output channels k are one register (K is a
// multiple of 8); with `flip` the taps are read reversed, wt[c][2−a][2−b][k].
template <typename Out>
void transformWeightRow(const float* wt, int64_t K, bool flip, int p, int64_t c0, int64_t cn, int64_t k0, int64_t kn, const Out& buf) {
  for (int64_t c = 0; c < cn; ++c)
    for (int64_t k = 0; k < kn; k += 8) {
      const float* g = wt + (c0 + c) * 9 * K + k0 + k;
      auto tap = [&](int a, int b) { return ld(g + (flip ? (2 - a) * 3 + 2 - b : a * 3 + b) * K); };
      V8 t[3];
      for (int b = 0; b < 3; ++b)  // t = (G g)[p]
        t[b] = fma(k8(kG[p][0]), tap(0, b), fma(k8(kG[p][1]), tap(1, b), _mm256_mul_ps(k8(kG[p][2]), tap(2, b))));
      for (int q = 0; q < 6; ++q)  // U[p][q] = t Gᵀ
        buf.put(q, c, k, fma(k8(kG[q][0]), t[0], fma(k8(kG[q][1]), t[1], _mm256_mul_ps(k8(kG[q][2]), t[2]))));
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

// The products in bfloat16: AVX-512 BF16's dot product multiplies the two bfloat16 halves of
// each 32-bit slot of A and B and adds both products to a float32 accumulator, twice the
// multiply-adds per instruction of float32 FMA.
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512vl,avx512bw,avx512bf16")
#pragma GCC optimize("O3")

inline __m256i ldSlots(const uint32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline __m256 dot(__m256 acc, __m256i a, __m256i b) { return _mm256_dpbf16_ps(acc, (__m256bh)a, (__m256bh)b); }

// C[R×16] (=|+=) Σ_p A(i,p)·B(p,j) for R ≤ 8, A(i,p) = a[i·rsA + p·csA] and B(p,j) = b[p·ldb + j]
// slots of bfloat16 pairs, C float32. Sixteen named accumulators (AVX-512 has 32 registers;
// the dot product's latency needs at least 12 in flight).
template <int R>
void bf16Rx16(int64_t P, const uint32_t* a, int64_t rsA, int64_t csA, const uint32_t* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  __m256 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
  for (int64_t p = 0; p < P; ++p) {
    const __m256i b0 = ldSlots(b + p * ldb), b1 = ldSlots(b + p * ldb + 8);
    const uint32_t* ap = a + p * csA;
    __m256i av = _mm256_set1_epi32(int(ap[0]));
    c00 = dot(c00, av, b0), c01 = dot(c01, av, b1);
    if constexpr (R > 1) av = _mm256_set1_epi32(int(ap[rsA])), c10 = dot(c10, av, b0), c11 = dot(c11, av, b1);
    if constexpr (R > 2) av = _mm256_set1_epi32(int(ap[2 * rsA])), c20 = dot(c20, av, b0), c21 = dot(c21, av, b1);
    if constexpr (R > 3) av = _mm256_set1_epi32(int(ap[3 * rsA])), c30 = dot(c30, av, b0), c31 = dot(c31, av, b1);
    if constexpr (R > 4) av = _mm256_set1_epi32(int(ap[4 * rsA])), c40 = dot(c40, av, b0), c41 = dot(c41, av, b1);
    if constexpr (R > 5) av = _mm256_set1_epi32(int(ap[5 * rsA])), c50 = dot(c50, av, b0), c51 = dot(c51, av, b1);
    if constexpr (R > 6) av = _mm256_set1_epi32(int(ap[6 * rsA])), c60 = dot(c60, av, b0), c61 = dot(c61, av, b1);
    if constexpr (R > 7) av = _mm256_set1_epi32(int(ap[7 * rsA])), c70 = dot(c70, av, b0), c71 = dot(c71, av, b1);
  }
  const __m256 out[8][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < 2; ++j) {
      float* o = c + i * ldc + 8 * j;
      _mm256_storeu_ps(o, accumulate ? _mm256_add_ps(_mm256_loadu_ps(o), out[i][j]) : out[i][j]);
    }
}

// The same for the last 8 columns when N is not a multiple of 16.
template <int R>
void bf16Rx8(int64_t P, const uint32_t* a, int64_t rsA, int64_t csA, const uint32_t* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  __m256 acc[R];
  for (int i = 0; i < R; ++i) acc[i] = _mm256_setzero_ps();
  for (int64_t p = 0; p < P; ++p) {
    const __m256i bv = ldSlots(b + p * ldb);
    for (int i = 0; i < R; ++i) acc[i] = dot(acc[i], _mm256_set1_epi32(int(a[i * rsA + p * csA])), bv);
  }
  for (int i = 0; i < R; ++i) _mm256_storeu_ps(c + i * ldc, accumulate ? _mm256_add_ps(_mm256_loadu_ps(c + i * ldc), acc[i]) : acc[i]);
}

// C[M×N] (=|+=) A[M×P]·B[P×N] over P slots of bfloat16 pairs; N a multiple of 8. Blocked as gemm.
void gemmBf16(int64_t M, int64_t N, int64_t P, const uint32_t* a, int64_t rsA, int64_t csA, const uint32_t* b, int64_t ldb, float* c, int64_t ldc, bool acc) {
  using K16 = void (*)(int64_t, const uint32_t*, int64_t, int64_t, const uint32_t*, int64_t, float*, int64_t, bool);
  static constexpr K16 wide[8] = {bf16Rx16<1>, bf16Rx16<2>, bf16Rx16<3>, bf16Rx16<4>, bf16Rx16<5>, bf16Rx16<6>, bf16Rx16<7>, bf16Rx16<8>};
  static constexpr K16 narrow[8] = {bf16Rx8<1>, bf16Rx8<2>, bf16Rx8<3>, bf16Rx8<4>, bf16Rx8<5>, bf16Rx8<6>, bf16Rx8<7>, bf16Rx8<8>};
  for (int64_t j = 0; j < N; j += 16) {
    const K16* kernels = N - j >= 16 ? wide : narrow;
    for (int64_t i = 0; i < M; i += 8) kernels[std::min<int64_t>(8, M - i) - 1](P, a + i * rsA, rsA, csA, b + j, ldb, c + i * ldc + j, ldc, acc);
  }
}

#pragma GCC pop_options

// The products of either precision: float32 operands, or slots of bfloat16 pairs (P counts slots).
inline void products(int64_t M, int64_t N, int64_t P, const float* a, int64_t rsA, int64_t csA, const float* b, int64_t ldb, float* c, int64_t ldc, bool acc) { gemm(M, N, P, a, rsA, csA, b, ldb, c, ldc, acc); }
inline void products(int64_t M, int64_t N, int64_t P, const uint32_t* a, int64_t rsA, int64_t csA, const uint32_t* b, int64_t ldb, float* c, int64_t ldc, bool acc) { gemmBf16(M, N, P, a, rsA, csA, b, ldb, c, ldc, acc); }

// The kernel's two precisions. float: float32 activations and products. Bf16: bfloat16
// activations in and out (what CPU autocast hands a convolution and expects back), transforms
// in float32 registers, products of bfloat16 pairs summed in float32; the weights and their
// gradient stay float32 (the master weights). Unit is an element of a product operand; pk
// values of the summed dimension share one; Packed puts the operands whose rows are summed.
template <typename T>
struct Prec;
template <>
struct Prec<float> {
  using Unit = float;
  using Packed = Dense<float>;
  static constexpr int pk = 1, rows = 6;  // rows: of the products' register block
};
template <>
struct Prec<Bf16> {
  using Unit = uint32_t;
  using Packed = Pairs;
  static constexpr int pk = 2, rows = 8;
};

// Below this many 4×4 output tiles, transforming the weights (36·C·K values, and as many
// for the weight gradient) costs about what the saved multiplications gain. Measured on this
// project's machine (training: forward and both gradients): at 16 tiles 64 to 128 channels
// break even and 256 to 512 channels are 1.1–1.5× faster than direct convolution (ResNet-50's
// layer4 at batch 16, 112 pixels); 64 tiles of 256 channels 1.3×, 4096 tiles of 64 channels 2.2×.
constexpr int64_t kMinTiles = 16;
// The transformed weights take 36·C·K floats: beyond 512×512 channels (37.7 MB) they would
// outgrow the caches and memory budget they were measured in; such convolutions stay direct.
constexpr int64_t kMaxChannelProduct = 512 * 512;

// The shapes the kernel covers, in either precision.
bool covered(const at::Tensor& x, const at::Tensor& w) {
  return x.dim() == 4 && w.dim() == 4 && x.device().is_cpu() && w.device().is_cpu() && w.size(2) == 3 && w.size(3) == 3 &&
         x.size(1) == w.size(1) && w.size(0) % 8 == 0 && w.size(1) % 8 == 0 && w.size(0) * w.size(1) <= kMaxChannelProduct &&
         x.size(0) * ((x.size(2) + 3) / 4) * ((x.size(3) + 3) / 4) >= kMinTiles;
}

bool eligible(const at::Tensor& x, const at::Tensor& w) {
  return cpuHasAvx2() && covered(x, w) && x.scalar_type() == at::kFloat && w.scalar_type() == at::kFloat;
}

// AVX-512 BF16 (Intel Cooper Lake and Sapphire Rapids, AMD Zen 4 and later), checked at run time:
// the addon is compiled for any x86-64.
bool cpuHasAvx512Bf16() {
  static const bool ok = cpuHasAvx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512bf16");
  return ok;
}

// Under CPU autocast: float32 or bfloat16 activations (cast to bfloat16 here, as autocast would),
// float32 weights (transformed in float32, their gradient float32).
bool eligibleBf16(const at::Tensor& x, const at::Tensor& w) {
  return cpuHasAvx512Bf16() && covered(x, w) && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16) && w.scalar_type() == at::kFloat;
}

struct Geometry {
  int64_t N, C, H, W, tilesH, tilesW, tiles;
  explicit Geometry(const at::Tensor& x) : N(x.size(0)), C(x.size(1)), H(x.size(2)), W(x.size(3)), tilesH((H + 3) / 4), tilesW((W + 3) / 4), tiles(N * tilesH * tilesW) {}
  // Tiles per chunk of the forward pass: the V and M chunks of one thread (V of vBytes an
  // element, M float32) fit the L2 budget, in whole blocks of `rows` (the products' row block),
  // but at least 3 blocks, below which reading U once per chunk costs more than it saves.
  int64_t chunk(int64_t K, int64_t vBytes, int64_t rows) const { return std::max<int64_t>(3 * rows, std::min<int64_t>(240, kL2Budget / (kXi * (C * vBytes + K * 4))) / rows * rows); }
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

// y = conv2d(x, w, stride 1, padding 1) for eligible x (any layout), E the activations' element
// (float or Bf16).
template <typename E>
at::Tensor forwardImpl(const at::Tensor& input, const Weights& w) {
  using Unit = typename Prec<E>::Unit;
  using Packed = typename Prec<E>::Packed;
  constexpr int pk = Prec<E>::pk;
  const at::Tensor x = input.contiguous(at::MemoryFormat::ChannelsLast);
  const Geometry g(x);
  const int64_t K = w.out, C = g.C, T = g.chunk(K, sizeof(E), Prec<E>::rows), threads = at::get_num_threads();
  const E* xp = static_cast<const E*>(x.data_ptr());
  const auto f32 = x.options().dtype(at::kFloat);
  at::Tensor y = at::empty({g.N, K, g.H, g.W}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
  E* yp = static_cast<E*>(y.data_ptr());
  if (g.tiles <= kFewTiles) {
    // Few tiles (late stages, small batches): the products are short, so transforming the
    // weights costs as much as multiplying, and all of U (36·C·K floats) would not stay in
    // cache. All tiles are transformed at once; each thread then takes blocks of output
    // channels and, block of input channels by block and row p of positions by row,
    // transforms just that part of the weights into L2 and adds its six products into the
    // block's M, whose output tiles it writes after the last input block.
    const int64_t n = g.tiles, kb = outputBlock(K), cb = std::min<int64_t>(C, 128), blocks = (K + kb - 1) / kb;
    const int64_t perThread = kXi * n * kb + 6 * cb * kb + (w.outMajor ? 9 * cb * kb : 0);
    at::Tensor vt = at::empty({kXi * n * C / pk}, f32);
    at::Tensor scratch = at::empty({threads, perThread}, f32);
    const Unit* v = reinterpret_cast<Unit*>(vt.data_ptr<float>());
    const Dense<E> vs{reinterpret_cast<E*>(vt.data_ptr<float>()), n * C, C};
    const float* wp = w.t.data_ptr<float>();
    at::parallel_for(0, n, 16, [&](int64_t i0, int64_t i1) { inputTransform(xp, g.H, g.W, C, g.tilesH, g.tilesW, i0, i1 - i0, vs.rows(i0)); });
    at::parallel_for(0, threads, 1, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        float *m = scratch.data_ptr<float>() + r * perThread, *swapped = m + kXi * n * kb + 6 * cb * kb;
        Unit* u = reinterpret_cast<Unit*>(m + kXi * n * kb);
        for (int64_t blk = r; blk < blocks; blk += threads) {
          const int64_t k0 = blk * kb, kn = std::min(kb, K - k0);
          for (int64_t c0 = 0; c0 < C; c0 += cb) {
            const int64_t cn = std::min(cb, C - c0);
            const Packed us{u, cn / pk * kn, kn};
            if (w.outMajor) swapChannels(wp + k0 * 9 * C + c0, C, kn, cn, swapped, kn);
            for (int p = 0; p < 6; ++p) {
              if (w.outMajor) transformWeightRow(swapped, kn, w.flip, p, 0, cn, 0, kn, us);
              else transformWeightRow(wp, K, w.flip, p, c0, cn, k0, kn, us);
              for (int q = 0; q < 6; ++q) products(n, kn, cn / pk, v + ((p * 6 + q) * n * C + c0) / pk, C / pk, 1, u + q * cn / pk * kn, kn, m + (p * 6 + q) * n * kn, kn, c0 > 0);
            }
          }
          outputTransform(m, n * kn, kn, g.H, g.W, K, k0, kn, g.tilesH, g.tilesW, 0, n, yp);
        }
      }
    });
    return y;
  }
  const at::Tensor wt = inputMajor(w);
  at::Tensor u = at::empty({kXi * C / pk * K}, f32);
  const Unit* up = reinterpret_cast<Unit*>(u.data_ptr<float>());
  const Packed us{reinterpret_cast<Unit*>(u.data_ptr<float>()), C / pk * K, K};
  at::parallel_for(0, 6, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) transformWeightRow(wt.data_ptr<float>(), K, w.flip, int(p), 0, C, 0, K, us.planes(6 * p));
  });
  const int64_t chunks = (g.tiles + T - 1) / T, workers = std::min<int64_t>(threads, chunks);
  // Per-thread V and M chunks, from the caching allocator (a fresh buffer per call would fault its pages in).
  at::Tensor scratch = at::empty({workers, kXi * T * (C + K)}, f32);
  at::parallel_for(0, workers, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float *v = scratch.data_ptr<float>() + r * kXi * T * (C + K), *m = v + kXi * T * C;
      const Unit* vu = reinterpret_cast<Unit*>(v);
      for (int64_t ch = r; ch < chunks; ch += workers) {
        const int64_t t0 = ch * T, n = std::min(T, g.tiles - t0);
        inputTransform(xp, g.H, g.W, C, g.tilesH, g.tilesW, t0, n, Dense<E>{reinterpret_cast<E*>(v), T * C, C});
        for (int xi = 0; xi < kXi; ++xi) products(n, K, C / pk, vu + xi * T * C / pk, C / pk, 1, up + xi * C / pk * K, K, m + xi * T * K, K, false);
        outputTransform(m, T * K, K, g.H, g.W, K, 0, K, g.tilesH, g.tilesW, t0, n, yp);
      }
    }
  });
  return y;
}

// dL/dweight for y = conv3x3(x, w): dW[k][c] = Gᵀ (Σ_tiles V[ξ][t][c] · Z[ξ][t][k]) G,
// with Z the output gradient's tiles transformed by A dY Aᵀ. Laid out as the weight, float32;
// x and dy of element E (float or Bf16).
template <typename E>
at::Tensor weightGradImpl(const at::Tensor& input, const at::Tensor& gradOut, const at::Tensor& weight) {
  using Unit = typename Prec<E>::Unit;
  using Packed = typename Prec<E>::Packed;
  constexpr int pk = Prec<E>::pk;
  const int64_t K = weight.size(0);
  const at::Tensor x = input.contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor dy = gradOut.contiguous(at::MemoryFormat::ChannelsLast);
  const Geometry g(x);
  const int64_t C = g.C, threads = at::get_num_threads();
  const at::MemoryFormat format = weight.suggest_memory_format();
  const bool channelsLast = format == at::MemoryFormat::ChannelsLast;
  const auto f32 = x.options().dtype(at::kFloat);
  const E *xp = static_cast<const E*>(x.data_ptr()), *dyp = static_cast<const E*>(dy.data_ptr());
  if (g.tiles <= kFewTiles) {
    // Few tiles: each thread takes blocks of input × output channels, multiplies their 36
    // parts of V and Z into an L2-sized block of dU and transforms that block straight into
    // dW, swapping it into channels-last weights as it goes (writing all of dU and reading
    // it back was bound by memory).
    // Channels-last: dW in its final layout; otherwise [c][a][b][k], rearranged at the end.
    at::Tensor dw = channelsLast ? at::empty({K, C, 3, 3}, f32.memory_format(format)) : at::empty({C, 3, 3, K}, f32);
    // n tiles, in np units of the summed dimension (pairs of tiles in bfloat16).
    const int64_t n = g.tiles, np = (n + pk - 1) / pk, kb = outputBlock(K), cb = std::min<int64_t>(C, 64);
    const int64_t kBlocks = (K + kb - 1) / kb, blocks = (C + cb - 1) / cb * kBlocks, perThread = kXi * cb * kb + 9 * cb * kb;
    at::Tensor vz = at::empty({kXi * np * (C + K)}, f32);
    at::Tensor scratch = at::empty({threads, perThread}, f32);
    Unit *v = reinterpret_cast<Unit*>(vz.data_ptr<float>()), *z = v + kXi * np * C;
    float* dwp = dw.data_ptr<float>();
    const Packed vs{v, np * C, C}, zs{z, np * K, K};
    at::parallel_for(0, np, 16 / pk, [&](int64_t p0, int64_t p1) {
      const int64_t i0 = p0 * pk, i1 = std::min(n, p1 * pk);
      inputTransform(xp, g.H, g.W, C, g.tilesH, g.tilesW, i0, i1 - i0, vs.rows(i0));
      gradTransform(dyp, g.H, g.W, K, g.tilesH, g.tilesW, i0, i1 - i0, zs.rows(i0));
    });
    at::parallel_for(0, threads, 1, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        float *du = scratch.data_ptr<float>() + r * perThread, *block = du + kXi * cb * kb;
        for (int64_t blk = r; blk < blocks; blk += threads) {
          const int64_t c0 = blk / kBlocks * cb, k0 = blk % kBlocks * kb, cn = std::min(cb, C - c0), kn = std::min(kb, K - k0);
          for (int xi = 0; xi < kXi; ++xi) products(cn, kn, np, v + xi * np * C + c0, 1, C, z + xi * np * K + k0, K, du + xi * cn * kn, kn, false);
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
  // Batches of S tiles, sp units of the summed dimension (pairs of tiles in bfloat16).
  const int64_t S = std::max<int64_t>(6, kBatchBudget / (kXi * (C + K) * sizeof(E))) / pk * pk, sp = S / pk;
  at::Tensor dU = at::empty({kXi, C, K}, f32);  // the first batch writes it, the others add
  at::Tensor scratch = at::empty({kXi * sp * (C + K)}, f32);
  float* du = dU.data_ptr<float>();
  Unit *v = reinterpret_cast<Unit*>(scratch.data_ptr<float>()), *z = v + kXi * sp * C;
  const Packed vs{v, sp * C, C}, zs{z, sp * K, K};
  for (int64_t t0 = 0; t0 < g.tiles; t0 += S) {
    const int64_t n = std::min(S, g.tiles - t0), np = (n + pk - 1) / pk;
    at::parallel_for(0, np, 16 / pk, [&](int64_t p0, int64_t p1) {
      const int64_t i0 = p0 * pk, i1 = std::min(n, p1 * pk);
      inputTransform(xp, g.H, g.W, C, g.tilesH, g.tilesW, t0 + i0, i1 - i0, vs.rows(i0));
      gradTransform(dyp, g.H, g.W, K, g.tilesH, g.tilesW, t0 + i0, i1 - i0, zs.rows(i0));
    });
    at::parallel_for(0, kXi, 1, [&](int64_t x0, int64_t x1) {
      for (int64_t xi = x0; xi < x1; ++xi) products(C, K, np, v + xi * sp * C, 1, C, z + xi * sp * K, K, du + xi * C * K, K, t0 > 0);
    });
  }
  at::Tensor dwt = at::empty({C, 3, 3, K}, f32);  // [c][a][b][k]
  float* dwp = dwt.data_ptr<float>();
  at::parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) { weightGradOutput(du + c0 * K, C * K, K, c1 - c0, K, dwp + c0 * 9 * K, K); });
  return asWeight(dwt, format);
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// E: float (float32 input and output) or Bf16 (bfloat16 input, output and input gradient;
// float32 weight and weight gradient).
template <typename E>
struct Conv3x3 : public torch::autograd::Function<Conv3x3<E>> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight) {
    ctx->save_for_backward({input, weight});
    return forwardImpl<E>(input, forwardWeights(weight));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &input = saved[0], &weight = saved[1], grad = grads[0].to(input.scalar_type());
    at::Tensor gi, gw;
    if (ctx->needs_input_grad(0)) gi = forwardImpl<E>(grad, inputGradWeights(weight));
    if (ctx->needs_input_grad(1)) gw = weightGradImpl<E>(input, grad, weight);
    return {gi, gw};
  }
};

#endif  // __x86_64__

// Under CPU autocast in bfloat16, the bfloat16 kernel where the CPU has AVX-512 BF16; otherwise
// (and in any other case the kernels do not cover) libtorch's convolution, which autocast casts.
at::Tensor conv3x3(const at::Tensor& input, const at::Tensor& weight) {
#if defined(__x86_64__)
  if (at::autocast::is_cpu_enabled()) {
    if (at::autocast::get_autocast_cpu_dtype() == at::kBFloat16 && eligibleBf16(input, weight)) return Conv3x3<Bf16>::apply(input.to(at::kBFloat16), weight);
  } else if (eligible(input, weight)) {
    return Conv3x3<float>::apply(input, weight);
  }
#endif
  return at::conv2d(input, weight, {}, 1, 1);
}

}  // namespace

TORCH_LIBRARY(spottune, m) {
  m.def("conv3x3(Tensor input, Tensor weight) -> Tensor");
  m.impl("conv3x3", c10::DispatchKey::CompositeImplicitAutograd, TORCH_FN(conv3x3));
}

}  // namespace st
