// Benchmarks of the quantised matvec (decode, 1 token; small batches of 4 and 16), the Q8
// activation quantiser, weight-tile dequantisation and the prefill GEMM, on the V2-Lite
// decode matrices with the types of a Q4_K_M file (deepseek2-gguf.md §7.5). Weight bytes are a
// fixed pattern: the kernels' speed does not depend on the values.
#include "bench.h"
#include "dequant.h"
#include "gemm.h"
#include "matvec_quant.h"

#include <cstdio>
#include <memory>
#include <string>

namespace latent::bench {

namespace {

using kernels::QuantType;

struct Tensor {
    const char* name;
    int64_t rows, cols;
    QuantType type;
};

constexpr Tensor kDecodeTensors[] = {
    {"attn_q", 3072, V2Lite::n_embd, QuantType::Q4_K},
    {"attn_kv_a_mqa", 576, V2Lite::n_embd, QuantType::Q4_K},
    {"attn_k_b (16 heads)", V2Lite::n_head * V2Lite::kv_lora_rank, V2Lite::qk_nope_dim, QuantType::Q5_0},
    {"attn_v_b (16 heads)", V2Lite::n_head * V2Lite::v_head_dim, V2Lite::kv_lora_rank, QuantType::Q4_K},
    {"attn_output", V2Lite::n_embd, V2Lite::n_head * V2Lite::v_head_dim, QuantType::Q4_K},
    {"ffn_gate_inp (router)", V2Lite::n_expert, V2Lite::n_embd, QuantType::F32},
    {"ffn_up_shexp", 2 * V2Lite::n_ff_expert, V2Lite::n_embd, QuantType::Q4_K},
    {"ffn_down_shexp", V2Lite::n_embd, 2 * V2Lite::n_ff_expert, QuantType::Q6_K},
    {"ffn_down_exps (1 expert)", V2Lite::n_embd, V2Lite::n_ff_expert, QuantType::Q8_0},
    {"ffn_down_exps (1 expert)", V2Lite::n_embd, V2Lite::n_ff_expert, QuantType::Q5_0},
    {"output", V2Lite::n_vocab, V2Lite::n_embd, QuantType::Q6_K},
};

std::shared_ptr<gpu::Buffer> pattern_buffer(std::size_t bytes) {
    auto buffer = std::make_shared<gpu::Buffer>(bytes);
    gpu::device_memset(buffer->data(), 0x3C, bytes); // f16 1.06, f32 0.0115, small block scales
    return buffer;
}

std::string shape_name(const char* kernel, const Tensor& t, int64_t tokens) {
    char text[160];
    std::snprintf(text, sizeof text, "%s %s %s %lldx%lld t=%lld", kernel, t.name, kernels::quant_type_name(t.type),
                  static_cast<long long>(t.rows), static_cast<long long>(t.cols), static_cast<long long>(tokens));
    return text;
}

} // namespace

LATENT_BENCHMARKS(matvec) {
    const int64_t max_tokens = kernels::kMaxBatchTokens;
    auto x = pattern_buffer(static_cast<std::size_t>(max_tokens * V2Lite::n_ff * 4));
    auto q8 = pattern_buffer(kernels::q8_activation_bytes(V2Lite::n_ff, max_tokens));
    auto y = pattern_buffer(static_cast<std::size_t>(max_tokens * V2Lite::n_vocab * 4));
    cases.push_back({"quantize_q8 d=2048 t=1", V2Lite::n_embd * 4.0 + static_cast<double>(kernels::q8_activation_bytes(V2Lite::n_embd, 1)),
                     [=](gpu::Stream s) { kernels::quantize_q8(x->as<float>(), V2Lite::n_embd, 1, q8->data(), s); }});
    for (const Tensor& t : kDecodeTensors) {
        auto w = pattern_buffer(static_cast<std::size_t>(t.rows) * kernels::weight_row_bytes(t.type, t.cols));
        const kernels::QuantMatrix m{t.type, w->data(), t.rows, t.cols};
        for (int64_t tokens : {int64_t{1}, int64_t{4}, int64_t{16}}) {
            cases.push_back({shape_name("matmul_quant", t, tokens), static_cast<double>(kernels::matmul_quant_bytes(m, tokens)),
                             [=](gpu::Stream s) { kernels::matmul_quant(m, x->as<float>(), q8->data(), tokens, y->as<float>(), s); }});
        }
    }
    // Prefill: one attn_q tile dequantised to f16, then a 512-token GEMM on it.
    const Tensor& q = kDecodeTensors[0];
    auto w = pattern_buffer(static_cast<std::size_t>(q.rows) * kernels::weight_row_bytes(q.type, q.cols));
    const kernels::QuantMatrix m{q.type, w->data(), q.rows, q.cols};
    auto tile = pattern_buffer(static_cast<std::size_t>(q.rows * q.cols * 2));
    cases.push_back({shape_name("dequantize_rows f16", q, 0), static_cast<double>(kernels::dequantize_rows_bytes(m, 0, q.rows)),
                     [=](gpu::Stream s) { kernels::dequantize_rows(m, 0, q.rows, kernels::HalfFormat::F16, tile->data(), s); }});
    const int64_t prefill = 512;
    auto xh = pattern_buffer(static_cast<std::size_t>(prefill * q.cols * 2));
    cases.push_back({"gemm f16 attn_q 3072x2048, 512 tokens", (q.rows * q.cols + prefill * q.cols) * 2.0 + prefill * q.rows * 4.0,
                     [=](gpu::Stream s) {
                         kernels::gemm(kernels::HalfFormat::F16, tile->data(), q.rows, xh->data(), prefill, q.cols, y->as<float>(), s);
                     }});
}

} // namespace latent::bench
