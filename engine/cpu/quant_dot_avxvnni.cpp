// AVX-VNNI matmul for batches of tokens, for CPUs that have the VEX-encoded 256-bit vpdpbusd but
// no AVX-512 (Intel Alder Lake and later desktop and laptop cores). The same GEMM-style kernel
// as quant_dot_avx512.cpp, on ymm registers: the panel (16 decoded rows, interleaved 4 values
// at a time, see quant_dot_batch.h) is shared, and one 64-byte step of it is two ymm registers,
// rows 0-7 and rows 8-15. The micro-kernel takes up to 3 tokens at once (6 int32 sums in
// registers; 16 ymm registers in all against the 32 zmm of AVX-512; on a 2-vCPU Sapphire Rapids
// VM 3 tokens ran 4-14% faster than 4) and does, lane by lane, the same integer and float
// operations in the same order as the AVX-512 kernel, so both give bit-identical results.
#include "cpu/avx2_common.h"
#include "cpu/quant_dot_batch.h"

#include <cstdint>

#if LATENT_HAVE_X86
#include <cpuid.h>
#endif

namespace latent::cpu::detail {

bool cpu_has_avxvnni() {
#if LATENT_HAVE_X86
    static const bool supported = [] {
        if (!cpu_has_avx2()) return false;
        unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
        if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return false;
        return ((eax >> 4) & 1u) != 0; // CPUID.(EAX=7, ECX=1):EAX[4] AVX-VNNI
    }();
    return supported;
#else
    return false;
#endif
}

} // namespace latent::cpu::detail

#if LATENT_HAVE_X86

LATENT_AVXVNNI_BEGIN

#include "cpu/quant_dot_batch_tiles.h"

namespace latent::cpu::avxvnni {
namespace {

using avx2::load256;
using avx2::load_i32;
using namespace detail::batch;

// The dword sums of 4 signed bytes, added to acc (vpdpbusd with all-ones bytes).
inline __m256i add_byte_sums(__m256i acc, __m256i q) { return _mm256_dpbusd_avx_epi32(acc, _mm256_set1_epi8(1), q); }

// ---- the micro-kernel (its interface: quant_dot_batch_tiles.h) ----------------------------------

struct MicroKernel {
    static constexpr int kMaxTileTokens = 3; // 3 x 2 int32 sums in registers

    template <int NT, int kSub, int kPerBlock, bool kHasMin>
    static void tile(const Panel& panel, const PreparedActivations& x, int64_t t0, float* out, int64_t out_stride, int n_rows) {
        constexpr int kSteps = kSub / 4;
        const TileTokens<NT, kHasMin> tokens(x, t0);
        const int8_t* quants = panel.quants.data();
        ymm_tile<NT, kPerBlock, kHasMin>(panel, tokens, out, out_stride, n_rows, [&](int64_t k, __m256i(&isum)[NT][2]) {
            const __m256i start_lo = load256(panel.start.data() + k * kPanelRows);
            const __m256i start_hi = load256(panel.start.data() + k * kPanelRows + 8);
            for (int t = 0; t < NT; ++t) {
                isum[t][0] = start_lo;
                isum[t][1] = start_hi;
            }
            for (int s = 0; s < kSteps; ++s) {
                const int8_t* step = quants + (k * kSteps + s) * 64;
                const __m256i w_lo = load256(step);
                const __m256i w_hi = load256(step + 32);
                const int64_t offset = k * kSub + 4 * s;
                for (int t = 0; t < NT; ++t) {
                    const __m256i xb = _mm256_set1_epi32(load_i32(tokens.quants[t] + offset));
                    isum[t][0] = _mm256_dpbusd_avx_epi32(isum[t][0], xb, w_lo);
                    isum[t][1] = _mm256_dpbusd_avx_epi32(isum[t][1], xb, w_hi);
                }
            }
        });
    }
};

} // namespace
} // namespace latent::cpu::avxvnni

LATENT_AVXVNNI_END

const latent::cpu::detail::batch::BatchKernel latent::cpu::detail::batch::kAvxVnniKernel{
    interleave_panel_ymm<avxvnni::add_byte_sums>, panel_tokens_for<SameForAnyMagnitude<avxvnni::MicroKernel>>};

#else // !LATENT_HAVE_X86

const latent::cpu::detail::batch::BatchKernel latent::cpu::detail::batch::kAvxVnniKernel{};

#endif
