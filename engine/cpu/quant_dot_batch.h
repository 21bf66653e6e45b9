// Internal to engine/cpu: the ISA-independent half of the GEMM-style batch kernels
// (quant_dot_avx512.cpp with zmm registers, quant_dot_avxvnni.cpp with ymm registers). Both
// decode 16 weight rows at a time into the same panel layout and multiply it with the
// activations in vpdpbusd; what they share lives here and in quant_dot_batch.cpp: the row
// decoders into the common form, the panel's memory, the activations' preparation, and the
// split of a product into tasks for the thread pool. What differs is the interleaving of the
// decoded rows (the transposes) and the micro-kernel, passed in as a BatchKernel.
//
// The common form of a row: W[r][i] = S[r][k] * q[r][i] - M[r][k] for sub-block k = i / sub
// (sub = 16 or 32 values, the type's scale granularity), with q a signed byte, S and M floats
// (M only for the types with a minimum).
//
// The panel layout: for every 4 consecutive values, 64 bytes holding those 4 values of each of
// the 16 rows (row r at bytes 4r..4r+3), so one zmm, or two ymm (rows 0-7, then 8-15), carry a
// step of all 16 rows. Per sub-block k, 16 floats S (scales), 16 floats M (mins) and 16 int32
// start values -128 * sum of the sub-block's q (the activations come in as x + 128).
#pragma once

#include "cpu/quant_dot_kernels.h"

#include <cstdint>

namespace latent::cpu::detail::batch {

inline constexpr int kPanelRows = 16;

// Decodes one row into signed bytes q (cols) and the scale S and minimum M of each sub-block
// (cols / sub each; M only for the types with a minimum). Weights are prefetched `prefetch`
// bytes ahead.
using RowDecoder = void (*)(const uint8_t* row, int64_t cols, int8_t* q, float* scales, float* mins, int prefetch);

// The common form of one type: sub-block size, whether it has a minimum, and its decoder.
struct RowForm {
    int sub = 32;
    bool has_min = false;
    RowDecoder decode = nullptr;
    int max_magnitude = 128; // bound on |q| (the AVX2 kernel's int16 sums depend on it)
};

// The form of a block type; decode == nullptr for a type the batch kernels do not cover.
RowForm row_form(TensorType type);

// 16 rows in the micro-kernel's layout, plus the row-major scratch it is built from. One per
// thread, grown on demand and reused.
struct Panel {
    int64_t cols = 0;
    int64_t n_sub = 0;
    int64_t n_sub_padded = 0;       // n_sub rounded up to 8 for the transposes
    AlignedArray<int8_t> rows;      // (16, cols) decoded values, row-major
    AlignedArray<float> row_scales; // (16, n_sub_padded)
    AlignedArray<float> row_mins;   // (16, n_sub_padded)
    AlignedArray<int8_t> quants;    // (cols / 4, 16, 4): 4 values of each of the 16 rows
    AlignedArray<float> scales;     // (n_sub_padded, 16) S
    AlignedArray<float> mins;       // (n_sub_padded, 16) M
    AlignedArray<int32_t> start;    // (n_sub, 16) -128 * sum of the sub-block's q

    void resize(int64_t n_cols, int sub);
};

// Activations prepared once per product: unsigned bytes x + 128, and for the types with a
// minimum, d_x * (sum of the sub-block's quants) per sub-block.
struct PreparedActivations {
    const uint8_t* unsigned_quants = nullptr; // (n_tokens, cols)
    const float* sub_sums = nullptr;          // (n_tokens, n_sub)
    const float* scales = nullptr;            // (n_tokens, scales_per_token): d_x per block
    int64_t cols = 0;
    int64_t n_sub = 0;
    int64_t scales_per_token = 0;
};

// Runs the micro-kernel over tokens [t0, t1) of one panel: y[t * y_stride + row0 + r] for its
// first n_rows rows.
using PanelTokens = void (*)(const Panel& panel, const PreparedActivations& x, int64_t t0, int64_t t1, float* y,
                             int64_t y_stride, int64_t row0, int n_rows);

// Runs a micro-kernel over tokens [t0, t1) of two panels at once, rows row0.. (a: 16 full rows)
// and row0 + 16.. (b: its first n_rows_b rows): each token's activations are loaded once for
// both, which halves the loads per multiply of the one-panel tiles.
using PanelPairTokens = void (*)(const Panel& a, const Panel& b, const PreparedActivations& x, int64_t t0, int64_t t1, float* y,
                                 int64_t y_stride, int64_t row0, int n_rows_b);

// What one instruction set contributes.
struct BatchKernel {
    // Fills panel.quants, start, scales and mins from the row-major rows, row_scales and
    // row_mins (mins only where form.has_min).
    void (*interleave)(Panel& panel, const RowForm& form) = nullptr;
    // The micro-kernel for a form and an activation format (Q8_32 or Q8_K).
    PanelTokens (*tokens_for)(const RowForm& form, ActivationFormat format) = nullptr;
    // The two-panel micro-kernel, where the instruction set has one (nullptr: panels one by one).
    PanelPairTokens (*pair_tokens_for)(const RowForm& form, ActivationFormat format) = nullptr;
};

// The kernels: AVX-512 VNNI on zmm registers (quant_dot_avx512.cpp); AVX-VNNI on ymm registers
// (quant_dot_avxvnni.cpp), for CPUs with AVX-VNNI but no AVX-512; plain AVX2 with vpdpbusd
// emulated by maddubs and madd (quant_dot_avx2_batch.cpp), for CPUs with neither. Each is empty
// where the build has no such instruction set, and runs only where the CPU has it.
extern const BatchKernel kAvx512Kernel;
extern const BatchKernel kAvxVnniKernel;
extern const BatchKernel kAvx2Kernel;

// The whole product, threads included, for a block type with Q8_* activations; false (nothing
// done) for a type the batch kernels do not cover, or for an empty kernel.
bool batch_matmul(const BatchKernel& kernel, const WeightMatrix& w, const ActivationView& x, float* y, int64_t y_stride,
                  int64_t row_begin, int64_t row_end, ThreadPool* pool);

} // namespace latent::cpu::detail::batch
