// Matrix products of stored (quantized) weights with activations, for the CPU backend.
//
// Activations are quantized once per token into an integer block format that matches the weight
// type, and each weight block is then dotted against them in integers (one float multiply per
// block): 8-bit activations halve the data the inner loop touches and let one SIMD multiply-add
// do 32 products.
//
//   weight types                          activation format (ActivationFormat)
//   F32, F16, BF16                        F32: the float values themselves
//   Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL  Q8_32: per 32 values a f32 scale d and int8 q[32],
//                                         x ~ d*q, plus the int16 sum of the 32 q
//   Q2_K .. Q6_K, Q8_K, IQ4_XS            Q8_K: per 256 values a f32 scale d and int8 q[256],
//                                         plus the int16 sum of every 16 q
//
// Activation quantization is symmetric: d = max|x| / 127 and q = round(x / d) (ties to even), so
// q is always in -127..127 and each value is off by at most d/2. Blocks holding a NaN or an
// infinity get d = NaN, so the products of that token come out NaN rather than quietly wrong.
//
// One-token decode streams every weight from memory once and is bound by memory bandwidth: the
// kernels prefetch ahead and give each thread long contiguous stretches of rows. Batches reuse
// each weight for many tokens and are bound by arithmetic: the per-row kernels decode a weight
// block once and dot it against up to 4 tokens while it sits in registers, and on CPUs with
// AVX-512 VNNI a GEMM-style kernel (quant_dot_avx512.cpp) decodes 16 rows at a time into an
// interleaved panel and multiplies it with 8 tokens at a time (about 4x the per-row kernels);
// CPUs with AVX-VNNI but no AVX-512 (Alder Lake and later) run the same kernel on 256-bit
// registers (quant_dot_avxvnni.cpp), 3 tokens at a time. Float weights (F32, F16, BF16) have a
// GEMM-style AVX2 batch kernel of their own (quant_dot_avx2_float.cpp: 6 rows x 16 tokens of
// float FMAs, about 10x the per-row kernels at 128 tokens).
//
// Every kernel has a portable C++ implementation; AVX2+FMA versions (compiled with target
// attributes, chosen at run time, so the library is built for plain x86-64) exist for every
// type, and the batch kernels cover every block type. LATENT_CPU_SIMD=off in the environment
// (read once) forces the portable code; =avx2 stops at AVX2; =avxvnni stops at the AVX-VNNI
// batch kernel (on an AVX-512 CPU too, where it also has AVX-VNNI); =avx512 stops before the
// kernels that also need VBMI and BITALG.
//
// Results do not depend on the thread count, the row range or how tokens are grouped into
// calls, except that a batch of kBatchKernelMinTokens or more may take the batch kernel, whose
// float rounding differs from the per-row kernels' (both within a few ulps of the exact product
// of the quantized operands).
#pragma once

#include "core/huge_pages.h"
#include "tensor/tensor_types.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <string_view>

namespace latent::gguf {
struct TensorInfo;
}

namespace latent::cpu {

class ThreadPool;

// One 2-D weight matrix in its stored type: y = W x maps `cols` inputs to `rows` outputs.
struct WeightMatrix {
    TensorType type = TensorType::F32;
    const uint8_t* data = nullptr; // first byte of row 0
    int64_t cols = 0;              // elements per row (ne0), a multiple of the block size
    int64_t rows = 0;              // number of rows (ne1), one per output feature
    size_t row_bytes = 0;          // distance between rows, >= tensor_row_bytes(type, cols)
};

// The matrix of a 2-D tensor (ne2 == ne3 == 1), and matrix `index` of a 3-D tensor (experts:
// (ne0, ne1, n_expert)). Throw latent::Error naming the tensor for other shapes, a bad index,
// a type that has no kernel, or missing data.
WeightMatrix weight_matrix(const gguf::TensorInfo& tensor);
WeightMatrix weight_matrix(const gguf::TensorInfo& tensor, int64_t index);

enum class ActivationFormat : uint8_t {
    None,  // empty buffer
    F32,   // float values, for F32 / F16 / BF16 weights
    Q8_32, // 32-value blocks, for Q4_0 / Q4_1 / Q5_0 / Q5_1 / Q8_0 / IQ4_NL weights
    Q8_K,  // 256-value blocks, for K-quant and IQ4_XS weights
};

// The format the kernels of a weight type consume; None for a type without kernels.
ActivationFormat activation_format(TensorType weight_type);
// Elements per scale of a format (1, 32 or 256) and per int16 sum (0, 32 or 16).
int64_t activation_block_size(ActivationFormat format);
int64_t activation_sum_group(ActivationFormat format);

// Growable 64-byte-aligned storage that keeps its capacity, so a buffer reused for every token
// allocates only while it grows. Contents are unspecified after resize.
template <class T>
class AlignedArray {
public:
    T* data() { return data_.get(); }
    const T* data() const { return data_.get(); }
    size_t size() const { return size_; }
    void resize(size_t n) {
        if (n > capacity_) {
            data_.reset(static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))));
            capacity_ = n;
            advise_huge_pages(data_.get(), n * sizeof(T)); // before anything touches it
        }
        size_ = n;
    }

private:
    struct Free {
        void operator()(T* p) const { ::operator delete(p, std::align_val_t(64)); }
    };
    std::unique_ptr<T, Free> data_;
    size_t size_ = 0;
    size_t capacity_ = 0;
};

// Quantized (or float) activations of n_tokens tokens, ready for matmul.
struct ActivationBuffer {
    ActivationFormat format = ActivationFormat::None;
    int64_t cols = 0;              // elements per token
    int64_t n_tokens = 0;
    AlignedArray<float> values;    // F32: (n_tokens, cols)
    AlignedArray<int8_t> quants;   // Q8_*: (n_tokens, cols), each in -127..127
    AlignedArray<float> scales;    // Q8_*: (n_tokens, cols / block size), d of each block
    AlignedArray<int16_t> sums;    // Q8_*: (n_tokens, cols / sum group), sum of each group's q

    const float* token_values(int64_t t) const { return values.data() + t * cols; }
    const int8_t* token_quants(int64_t t) const { return quants.data() + t * cols; }
    const float* token_scales(int64_t t) const {
        return scales.data() + t * (cols / activation_block_size(format));
    }
    const int16_t* token_sums(int64_t t) const {
        const int64_t group = activation_sum_group(format);
        return group ? sums.data() + t * (cols / group) : nullptr;
    }
};

// Quantizes x (n_tokens, cols), row-major by token, into the format of weight_type. cols must be
// a multiple of the weight type's block size. The pool (optional) splits the tokens.
void quantize_activations(TensorType weight_type, const float* x, int64_t cols, int64_t n_tokens,
                          ActivationBuffer& out, ThreadPool* pool = nullptr);

// out = 2 n_tokens activation rows for weight_type (a quantised type): x's rows as
// quantize_activations gives them, then each row's rounding remainder x - dequantised(x),
// quantised the same way. A product with them whose two halves are summed loses only the
// remainder's rounding (about 1/127 of one rounding): near-float precision from the integer
// kernels. Needs no float copy of the rows (one row of floats per thread).
void quantize_activations_with_remainder(TensorType weight_type, const float* x, int64_t cols, int64_t n_tokens, ActivationBuffer& out,
                                         ThreadPool* pool = nullptr);

// dst = the tokens of src listed in `tokens`, in that order (MoE: the tokens routed to one
// expert, quantized once for all experts).
void gather_activations(const ActivationBuffer& src, std::span<const int32_t> tokens, ActivationBuffer& dst);

// The values the kernels actually see for one token (d*q, or the floats): cols floats.
void dequantize_activations(const ActivationBuffer& x, int64_t token, float* out);

// y[t * w.rows + o] = sum_i W[o][i] * x[t][i] for every token t and every row o in
// [row_begin, row_end) (row_end -1 = w.rows); y is (n_tokens, w.rows) row-major by token and
// only the columns of that row range are written. x must be in the format of w.type with
// x.cols == w.cols. Rows are split over the pool's threads (nullptr: this thread only).
// Throws latent::Error on mismatched shapes or types.
void matmul(const WeightMatrix& w, const ActivationBuffer& x, float* y, ThreadPool* pool = nullptr,
            int64_t row_begin = 0, int64_t row_end = -1);

// One product of matmul_many: y (x.n_tokens, w.rows) = W x.
struct MatmulJob {
    const WeightMatrix* w = nullptr;
    const ActivationBuffer* x = nullptr;
    float* y = nullptr;
};

// Several independent products in one pass over the pool: every job's rows are cut into
// contiguous tasks and all tasks are handed out together, so a decode step's many small
// matrices (the chosen experts' gate, up and down projections) cost one wake-up of the threads
// instead of one each and the threads stay evenly loaded across matrices. Results equal
// matmul's job by job. Jobs of kBatchKernelMinTokens tokens or more run one after the other
// through matmul (they are bound by arithmetic, not by waking threads).
void matmul_many(std::span<const MatmulJob> jobs, ThreadPool* pool);

// matmul that never takes the batch kernel: results equal, token by token, those of calls with
// fewer than kBatchKernelMinTokens tokens (used to multiply two activation sets in one pass
// over the weights without changing any token's rounding).
void matmul_per_row(const WeightMatrix& w, const ActivationBuffer& x, float* y, ThreadPool* pool = nullptr);

// matmul on float activations x (n_tokens, w.cols): quantizes them into a thread-local buffer
// that is reused by later calls on the same thread. For float weight types x is read in place
// (64-byte aligned rows are fastest: the AVX-512 kernels load 64 bytes at a time).
void matmul_f32(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool = nullptr,
                int64_t row_begin = 0, int64_t row_end = -1);

// The slow, obvious oracle with matmul_f32's signature: every row decoded with dequantize_row
// and dotted with the unquantized activations in double precision. Supports every decodable
// type; the pool, when given, only splits the rows.
void matmul_reference(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool = nullptr,
                      int64_t row_begin = 0, int64_t row_end = -1);

// Bytes of weight data a matmul over rows [row_begin, row_end) reads (each byte once, however
// many tokens), for GB/s reports.
size_t matmul_weight_bytes(const WeightMatrix& w, int64_t row_begin = 0, int64_t row_end = -1);

// ---- SIMD selection ---------------------------------------------------------------------------

// Ordered: each level uses the kernels of the ones before it where it has none of its own
// (Avx512 does not need AVX-VNNI: its batch kernel is the 512-bit one).
enum class SimdLevel : uint8_t {
    Portable, // plain C++
    Avx2,     // AVX2 + FMA + F16C kernels, and an AVX2 batch kernel for batches of kBatchKernelMinTokens or more
    AvxVnni,  // plus the AVX-VNNI (256-bit) batch kernel for batches of kBatchKernelMinTokens or more
    Avx512,   // AVX2 plus AVX-512 (F, BW, VL, VNNI) kernels: per-row ones, and the 512-bit batch kernel
    Avx512Vbmi, // plus VBMI and BITALG (Ice Lake, Zen 4 and later): Q5_0's four-block row kernel
};

// Batches of at least this many tokens take the batch kernel of the Avx2, AvxVnni or Avx512 level.
inline constexpr int64_t kBatchKernelMinTokens = 6;

std::string_view simd_level_name(SimdLevel level);
// The best level this CPU supports.
SimdLevel simd_level_supported();
// The level the kernels use: the supported one unless LATENT_CPU_SIMD=off, or as last set.
SimdLevel simd_level();
// Forces a level (tests, benchmarks); a level the CPU lacks is clamped to the supported one, and
// AvxVnni to Avx2 on a CPU without AVX-VNNI (AVX-512 CPUs before Sapphire Rapids).
// Not synchronised with running kernels: call it between matmuls.
void set_simd_level(SimdLevel level);

} // namespace latent::cpu
