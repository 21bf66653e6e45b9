// Benchmarks of the element-wise kernels (residual add, RMSNorm, RoPE, embedding gather,
// logits argmax/top-k) for one decode token of V2-Lite.
#include "bench.h"
#include "elementwise.h"
#include "embedding.h"
#include "logits.h"
#include "norm_rope.h"

#include <memory>
#include <vector>

namespace latent::bench {

namespace {

// A device buffer of `count` floats holding small values (poison would make NaN timings no
// different, but keeps denormal/NaN paths out of the picture).
std::shared_ptr<gpu::Buffer> floats(std::size_t count, float value = 0.5f) {
    return std::make_shared<gpu::Buffer>(gpu::upload(std::vector<float>(count, value)));
}

} // namespace

LATENT_BENCHMARKS(elementwise) {
    const int64_t d = V2Lite::n_embd;
    auto x = floats(d), y = floats(d), gain = floats(d, 1.0f);
    cases.push_back({"residual_add d=2048", 3.0 * d * 4,
                     [=](gpu::Stream s) { kernels::residual_add(y->as<float>(), y->as<float>(), x->as<float>(), d, s); }});
    cases.push_back({"rms_norm d=2048", 3.0 * d * 4,
                     [=](gpu::Stream s) { kernels::rms_norm(y->as<float>(), x->as<float>(), gain->as<float>(), d, 1, 1e-6f, s); }});
    auto q8 = std::make_shared<gpu::Buffer>(kernels::q8_rows_bytes(d, 1));
    cases.push_back({"rms_norm_q8 d=2048", 2.0 * d * 4 + static_cast<double>(q8->bytes()), [=](gpu::Stream s) {
                         kernels::rms_norm_q8(q8->data(), nullptr, x->as<float>(), gain->as<float>(), d, 1, 1e-6f, s);
                     }});

    const int64_t head_stride = V2Lite::qk_nope_dim + V2Lite::qk_rope_dim;
    auto q = floats(V2Lite::n_head * head_stride);
    auto position = std::make_shared<gpu::Buffer>(gpu::upload(std::vector<int32_t>{4000}));
    const auto rope = kernels::rope_params(V2Lite::qk_rope_dim, 10000.0f, 1.0f / 40.0f, true, 10.0f, 23.0f);
    cases.push_back({"rope q (16 heads x 64 of 192)", 2.0 * V2Lite::n_head * V2Lite::qk_rope_dim * 4, [=](gpu::Stream s) {
                         kernels::rope(q->as<float>(), position->as<int32_t>(), 1, V2Lite::n_head, V2Lite::n_head * head_stride,
                                       head_stride, V2Lite::qk_nope_dim, rope, s);
                     }});

    auto table = std::make_shared<gpu::Buffer>(static_cast<std::size_t>(V2Lite::n_vocab * d * 2));
    gpu::device_memset(table->data(), 0, table->bytes());
    auto ids = std::make_shared<gpu::Buffer>(gpu::upload(std::vector<int32_t>{12345}));
    cases.push_back({"embedding_gather f16 (1 token, d=2048)", d * 2.0 + d * 4.0, [=](gpu::Stream s) {
                         kernels::embedding_gather(y->as<float>(), table->data(), kernels::kEmbeddingF16, d, V2Lite::n_vocab,
                                                   ids->as<int32_t>(), 1, s);
                     }});

    auto logits = floats(V2Lite::n_vocab);
    auto top_ids = std::make_shared<gpu::Buffer>(64 * sizeof(int32_t)), top_values = floats(64);
    auto scratch = std::make_shared<gpu::Buffer>(kernels::logits_scratch_bytes(V2Lite::n_vocab, 1, 40));
    cases.push_back({"logits_argmax n_vocab=102400", V2Lite::n_vocab * 4.0, [=](gpu::Stream s) {
                         kernels::logits_argmax(top_ids->as<int32_t>(), logits->as<float>(), V2Lite::n_vocab, 1, scratch->data(), s);
                     }});
    cases.push_back({"logits_top_k k=40 n_vocab=102400", V2Lite::n_vocab * 4.0, [=](gpu::Stream s) {
                         kernels::logits_top_k(top_ids->as<int32_t>(), top_values->as<float>(), logits->as<float>(),
                                               V2Lite::n_vocab, 1, 40, scratch->data(), s);
                     }});
}

} // namespace latent::bench
