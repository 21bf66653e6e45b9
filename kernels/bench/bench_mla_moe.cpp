// Benchmarks of the MLA attention and MoE kernels for DeepSeek-V2-Lite: decode attention over
// 4K / 16K / 32K cached tokens, a 512-token prefill chunk, and one MoE layer (64 experts top-6
// + 2 shared, the Q4_K_M mix of types) for a decode token and a 512-token chunk.
#include "bench.h"
#include "mla_attention.h"
#include "moe.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace latent::bench {

namespace {

using kernels::QuantType;

std::shared_ptr<gpu::Buffer> buffer(std::size_t bytes, int byte_value) {
    auto b = std::make_shared<gpu::Buffer>(bytes);
    gpu::device_memset(b->data(), byte_value, bytes);
    return b;
}

// Floats from a fixed LCG in [-scale, scale) (routing needs varied logits to spread the experts).
std::shared_ptr<gpu::Buffer> varied_floats(std::size_t count, float scale) {
    std::vector<float> v(count);
    uint32_t state = 12345;
    for (float& x : v) {
        state = state * 1664525u + 1013904223u;
        x = scale * (static_cast<float>(state >> 8) * (2.0f / 16777216.0f) - 1.0f);
    }
    return std::make_shared<gpu::Buffer>(gpu::upload(v));
}

// One attention case's buffers (kept alive by the case) and arguments: n_tokens query tokens
// after `cached` keys, V2-Lite's heads and latent sizes, f16 cache bytes 0x2A (~0.045).
struct AttentionCase {
    std::shared_ptr<gpu::Buffer> cache, q_latent, q_rope, out;
    kernels::MlaAttentionArgs args;
};

AttentionCase attention_case(uint32_t n_tokens, uint32_t cached) {
    const uint32_t width = V2Lite::kv_lora_rank + V2Lite::qk_rope_dim, keys = cached + n_tokens;
    const std::size_t rows = static_cast<std::size_t>(n_tokens) * V2Lite::n_head;
    AttentionCase c;
    c.cache = buffer(static_cast<std::size_t>(keys) * width * 2, 0x2A);
    c.q_latent = varied_floats(rows * V2Lite::kv_lora_rank, 1.0f);
    c.q_rope = varied_floats(rows * V2Lite::qk_rope_dim, 1.0f);
    c.out = buffer(rows * V2Lite::kv_lora_rank * 4, 0);
    kernels::MlaAttentionArgs& a = c.args;
    a.q_latent = c.q_latent->as<float>();
    a.q_rope = c.q_rope->as<float>();
    a.cache = c.cache->data();
    a.row_stride = width;
    a.n_heads = V2Lite::n_head;
    a.latent_dim = V2Lite::kv_lora_rank;
    a.rope_dim = V2Lite::qk_rope_dim;
    a.n_tokens = n_tokens;
    a.n_keys = keys;
    a.scale = 0.1147214f;
    a.out = c.out->as<float>();
    return c;
}

void add_attention(std::vector<Case>& cases) {
    for (uint32_t keys : {4096u, 16384u, 32768u}) {
        const AttentionCase c = attention_case(1, keys - 1);
        const kernels::MlaDecodePlan plan = kernels::mla_decode_plan(c.args);
        auto workspace = buffer(plan.workspace_bytes, 0);
        cases.push_back({"mla_decode 16 heads ctx " + std::to_string(keys) + " (" + std::to_string(plan.splits) + " splits)",
                         static_cast<double>(kernels::mla_attention_bytes(c.args, plan.splits)),
                         [=](gpu::Stream s) { kernels::mla_decode(c.args, plan, workspace->data(), nullptr, s); }});
    }
    for (uint32_t cached : {0u, 4096u}) {
        const AttentionCase c = attention_case(512, cached);
        cases.push_back({"mla_prefill 16 heads 512 tokens after " + std::to_string(cached),
                         static_cast<double>(kernels::mla_attention_bytes(c.args, 1)), [=](gpu::Stream s) { kernels::mla_prefill(c.args, s); }});
    }
}

// One stored matrix of `count` stacked (rows, cols) matrices; bytes 0x11 decode to small finite
// weights in every block type (f16 scale 0x1111).
kernels::QuantMatrix stored(QuantType type, int64_t rows, int64_t cols, int64_t count, std::vector<std::shared_ptr<gpu::Buffer>>& keep) {
    const int64_t row_bytes = type == QuantType::Q4_K ? cols / 256 * 144 : type == QuantType::Q6_K ? cols / 256 * 210 : cols / 32 * 34; // Q8_0
    keep.push_back(buffer(static_cast<std::size_t>(rows * count * row_bytes), 0x11));
    return kernels::QuantMatrix{type, keep.back()->data(), rows, cols};
}

void add_moe(std::vector<Case>& cases) {
    const int64_t d = V2Lite::n_embd, f = V2Lite::n_ff_expert, e = V2Lite::n_expert, f_shared = 2 * f;
    auto keep = std::make_shared<std::vector<std::shared_ptr<gpu::Buffer>>>();
    kernels::MoeRouting r;
    r.n_expert = static_cast<uint32_t>(e);
    r.n_expert_used = static_cast<uint32_t>(V2Lite::n_expert_used);
    kernels::MoeWeights w;
    keep->push_back(varied_floats(static_cast<std::size_t>(e * d), 0.05f));
    w.router = kernels::QuantMatrix{QuantType::F32, keep->back()->data(), e, d};
    w.gate_exps = stored(QuantType::Q4_K, f, d, e, *keep);
    w.up_exps = stored(QuantType::Q4_K, f, d, e, *keep);
    w.down_exps = stored(QuantType::Q8_0, d, f, e, *keep);
    w.gate_shexp = stored(QuantType::Q4_K, f_shared, d, 1, *keep);
    w.up_shexp = stored(QuantType::Q4_K, f_shared, d, 1, *keep);
    w.down_shexp = stored(QuantType::Q6_K, d, f_shared, 1, *keep);
    for (int64_t tokens : {int64_t{1}, int64_t{512}}) {
        auto x = varied_floats(static_cast<std::size_t>(tokens * d), 1.0f);
        auto out = buffer(static_cast<std::size_t>(tokens * d * 4), 0);
        auto ids = buffer(static_cast<std::size_t>(tokens * r.n_expert_used * 4), 0);
        auto weights = buffer(static_cast<std::size_t>(tokens * r.n_expert_used * 4), 0);
        auto workspace = buffer(kernels::moe_workspace_bytes(r, w, tokens), 0);
        const uint32_t distinct = tokens == 1 ? r.n_expert_used : r.n_expert;
        const std::string shape = " 64 experts top-6 + 2 shared, " + std::to_string(tokens) + " token(s)";
        cases.push_back({"moe_route" + shape, static_cast<double>(e * d * 4 + tokens * d * 4),
                         [=](gpu::Stream s) { (void)keep; kernels::moe_route(r, w, x->as<float>(), tokens, ids->as<int32_t>(), weights->as<float>(), workspace->data(), s); }});
        cases.push_back({"moe_ffn q4_K/q8_0/q6_K" + shape, static_cast<double>(kernels::moe_ffn_bytes(r, w, tokens, distinct)),
                         [=](gpu::Stream s) { (void)keep; kernels::moe_ffn(r, w, x->as<float>(), tokens, x->as<float>(), out->as<float>(), workspace->data(), s); }});
    }
}

} // namespace

LATENT_BENCHMARKS(mla_moe) {
    add_attention(cases);
    add_moe(cases);
}

} // namespace latent::bench
