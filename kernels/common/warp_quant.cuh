// The per-32 int8 activation rule (Q8_32: quant::activation_scale / quantize_activation in
// quant_blocks.cuh, the CPU backend's rule) applied by one warp to a 32-value slice held one value
// per lane. Shared by every kernel that quantises activations on the fly: quantize_q8
// (matvec_quant.cu), the fused rms_norm_q8 (norm_rope.cu) and the MoE hidden tile (moe.cu).
#pragma once

#include "common/block_reduce.cuh"
#include "common/quant_blocks.cuh"

namespace latent::kernels {

struct WarpSliceQ8 {
    int8_t q; // this lane's value
    float d;  // the slice's scale (the same in every lane)
};

// All 32 lanes must call it (full-warp shuffles). A non-finite slice gets d = NaN and q = 0, an
// all-zero slice d = 0.
__device__ __forceinline__ WarpSliceQ8 warp_quantize_slice(float v) {
    const float a = fabsf(v);
    const bool finite = __all_sync(0xFFFFFFFFu, a <= 3.402823466e38f);
    const float amax = warp_max(finite ? a : 0.0f);
    return {quant::quantize_activation(v, amax, finite), quant::activation_scale(amax, finite)};
}

} // namespace latent::kernels
