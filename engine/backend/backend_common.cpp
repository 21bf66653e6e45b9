#include "backend/backend_common.h"

#include "core/error.h"
#include "tensor/tensor_types.h"

#include <cstring>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <utility>

namespace latent {

std::string_view kv_cache_type_name(KvCacheType type) {
    switch (type) {
    case KvCacheType::F32: return "f32";
    case KvCacheType::F16: return "f16";
    case KvCacheType::BF16: return "bf16";
    }
    return "?";
}

void rope_angles(const ModelConfig& c, uint32_t position, float* cos_out, float* sin_out) {
    const uint32_t pairs = c.qk_rope_dim / 2;
    const float theta_scale = std::pow(c.rope_freq_base, -2.0f / static_cast<float>(c.qk_rope_dim));
    const bool yarn = c.rope_scaling == RopeScaling::Yarn;
    float theta_extrap = static_cast<float>(position);
    for (uint32_t i = 0; i < pairs; ++i) {
        const float theta_interp = c.rope_freq_scale * theta_extrap;
        float theta = theta_interp;
        if (yarn) {
            // ramp: 1 for pairs at or below the low correction dim, 0 at or above the high one.
            const float y = (static_cast<float>(i) - c.yarn_low_dim) / std::max(0.001f, c.yarn_high_dim - c.yarn_low_dim);
            const float ramp_mix = 1.0f - std::min(1.0f, std::max(0.0f, y));
            theta = theta_interp * (1.0f - ramp_mix) + theta_extrap * ramp_mix;
        }
        cos_out[i] = std::cos(theta);
        sin_out[i] = std::sin(theta);
        theta_extrap *= theta_scale;
    }
}

void apply_rope(float* x, uint32_t rope_dim, const float* cos_table, const float* sin_table) {
    for (uint32_t i = 0; i < rope_dim / 2; ++i) {
        const float x0 = x[2 * i], x1 = x[2 * i + 1];
        x[2 * i] = x0 * cos_table[i] - x1 * sin_table[i];
        x[2 * i + 1] = x0 * sin_table[i] + x1 * cos_table[i];
    }
}

ExpertChoice route_token(const ModelConfig& c, std::span<const float> z, std::span<const float> bias) {
    const uint32_t n = c.n_expert;
    std::vector<float> p(n);
    if (c.gating == ExpertGating::Softmax) {
        float max = -std::numeric_limits<float>::infinity();
        for (float v : z) max = std::max(max, v);
        double sum = 0.0;
        for (uint32_t e = 0; e < n; ++e) sum += std::exp(static_cast<double>(z[e] - max));
        for (uint32_t e = 0; e < n; ++e) p[e] = static_cast<float>(std::exp(static_cast<double>(z[e] - max)) / sum);
    } else {
        for (uint32_t e = 0; e < n; ++e) p[e] = 1.0f / (1.0f + std::exp(-z[e]));
    }
    // Selection scores: the bias steers the choice only.
    std::vector<float> sel(p);
    if (!bias.empty()) {
        for (uint32_t e = 0; e < n; ++e) sel[e] += bias[e];
    }
    if (c.expert_group_count > 1) {
        // Group-limited routing: a group's score is the sum of its two best selection scores
        // when there is a bias (V3), else its best score (V2's group_limited_greedy).
        const uint32_t group_size = n / c.expert_group_count;
        std::vector<std::pair<float, uint32_t>> groups;
        for (uint32_t g = 0; g < c.expert_group_count; ++g) {
            std::vector<float> members(sel.begin() + g * group_size, sel.begin() + (g + 1) * group_size);
            std::sort(members.begin(), members.end(), std::greater<>());
            const float score = !bias.empty() && members.size() >= 2 ? members[0] + members[1] : members[0];
            groups.emplace_back(score, g);
        }
        std::stable_sort(groups.begin(), groups.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
        std::vector<bool> keep(c.expert_group_count, false);
        for (uint32_t k = 0; k < c.expert_group_used_count; ++k) keep[groups[k].second] = true;
        for (uint32_t e = 0; e < n; ++e) {
            if (!keep[e / group_size]) sel[e] = -std::numeric_limits<float>::infinity();
        }
    }
    std::vector<uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return sel[a] > sel[b]; });
    ExpertChoice choice;
    choice.experts.assign(order.begin(), order.begin() + c.n_expert_used);
    float sum = 0.0f;
    for (uint32_t e : choice.experts) {
        choice.weights.push_back(p[e]);
        sum += p[e];
    }
    for (float& w : choice.weights) {
        if (c.expert_weights_norm) w /= std::max(sum, 6.103515625e-5f);
        w *= c.expert_weights_scale;
    }
    return choice;
}

uint64_t bytes_read_per_token(const Model& model, uint32_t n_cached, KvCacheType cache_type) {
    const ModelConfig& c = model.config();
    const ModelWeights& w = model.weights();
    uint64_t bytes = 0;
    for (const gguf::TensorInfo* t : w.tensors()) {
        if (t == w.token_embd && !w.output_tied) {
            bytes += t->size_bytes / t->ne[1]; // one row
            continue;
        }
        const bool routed = t->name.find("_exps.") != std::string::npos;
        bytes += routed ? t->size_bytes / c.n_expert * c.n_expert_used : t->size_bytes;
    }
    const uint64_t element = kv_cache_element_bytes(cache_type);
    bytes += static_cast<uint64_t>(n_cached) * c.n_layer * (c.kv_lora_rank + c.qk_rope_dim) * element;
    return bytes;
}

void check_batch(const Model& model, uint32_t n_cached, uint32_t n_ctx, std::span<const int32_t> tokens, std::span<const uint32_t> logit_rows) {
    model.check_files_intact();
    if (tokens.empty()) throw Error("evaluate: empty batch");
    if (tokens.size() > n_ctx - n_cached) {
        throw Error("context full: " + std::to_string(n_cached) + " cached + " + std::to_string(tokens.size()) + " new tokens exceed the context of " +
                    std::to_string(n_ctx));
    }
    const int32_t n_vocab = static_cast<int32_t>(model.config().n_vocab);
    for (int32_t t : tokens) {
        if (t < 0 || t >= n_vocab) throw Error("token id " + std::to_string(t) + " is outside the vocabulary (0.." + std::to_string(n_vocab - 1) + ")");
    }
    for (size_t i = 0; i < logit_rows.size(); ++i) {
        if (logit_rows[i] >= tokens.size() || (i > 0 && logit_rows[i] <= logit_rows[i - 1])) {
            throw Error("evaluate: logit rows must be ascending batch indices");
        }
    }
}

void check_slices(const Model& model, std::span<const uint32_t> n_cached, uint32_t n_ctx, std::span<const SequenceSlice> slices) {
    if (slices.empty()) throw Error("evaluate: no sequences in the batch");
    std::vector<bool> seen(n_cached.size(), false);
    for (const SequenceSlice& slice : slices) {
        if (slice.sequence >= n_cached.size()) {
            throw Error("evaluate: sequence " + std::to_string(slice.sequence) + " does not exist (" + std::to_string(n_cached.size()) + " sequences)");
        }
        if (seen[slice.sequence]) throw Error("evaluate: sequence " + std::to_string(slice.sequence) + " appears twice in one batch");
        seen[slice.sequence] = true;
        check_batch(model, n_cached[slice.sequence], n_ctx, slice.tokens, {});
    }
}

SequenceBackend::SequenceBackend(const Model& model, const BackendOptions& options) : model_(model), c_(model.config()), options_(options) {
    if (options.n_ctx == 0) throw Error("context size must be at least 1");
}

void SequenceBackend::commit_batch(size_t n_tokens) {
    model_.check_files_intact();
    n_cached_ += static_cast<uint32_t>(n_tokens);
}

void SequenceBackend::truncate(uint32_t n) {
    if (n > n_cached_) throw Error("truncate beyond the cached positions");
    n_cached_ = n;
}

std::pair<size_t, size_t> absorbed_head_bytes(const ModelConfig& c, bool as_float32) {
    const size_t elem = as_float32 ? 4 : 2;
    return {static_cast<size_t>(c.n_head) * c.kv_lora_rank * c.qk_nope_dim * elem, static_cast<size_t>(c.n_head) * c.v_head_dim * c.kv_lora_rank * elem};
}

void absorbed_head_matrices(const Model& model, uint32_t il, bool as_float32, std::vector<uint8_t>& wk_t, std::vector<uint8_t>& wv) {
    const auto [wk_t_bytes, wv_bytes] = absorbed_head_bytes(model.config(), as_float32);
    wk_t.resize(wk_t_bytes);
    wv.resize(wv_bytes);
    absorbed_head_matrices(model, il, as_float32, std::span<uint8_t>(wk_t), std::span<uint8_t>(wv));
}

void absorbed_head_matrices(const Model& model, uint32_t il, bool as_float32, std::span<uint8_t> wk_t, std::span<uint8_t> wv) {
    const ModelConfig& c = model.config();
    if (const auto [wk_t_bytes, wv_bytes] = absorbed_head_bytes(c, as_float32); wk_t.size() != wk_t_bytes || wv.size() != wv_bytes) {
        throw Error("internal: layer " + std::to_string(il) + "'s absorbed head matrices were given " + std::to_string(wk_t.size()) + " + " +
                    std::to_string(wv.size()) + " bytes, not " + std::to_string(wk_t_bytes) + " + " + std::to_string(wv_bytes));
    }
    const LayerWeights& lw = model.weights().layers.at(il);
    const uint32_t H = c.n_head, dn = c.qk_nope_dim, dv = c.v_head_dim, rkv = c.kv_lora_rank;
    auto put = [&](std::span<uint8_t> store, size_t index, float value) {
        if (as_float32) {
            std::memcpy(store.data() + index * 4, &value, 4);
        } else {
            const uint16_t h = fp32_to_fp16(value);
            std::memcpy(store.data() + index * 2, &h, 2);
        }
    };
    std::vector<float> row(std::max(rkv, dn));
    for (uint32_t h = 0; h < H; ++h) {
        const size_t k0 = static_cast<size_t>(h) * rkv * dn, v0 = static_cast<size_t>(h) * dv * rkv;
        if (lw.attn_kv_b) {
            const size_t row_bytes = tensor_row_bytes(lw.attn_kv_b->type, rkv);
            const uint8_t* head = lw.attn_kv_b->data + static_cast<size_t>(h) * (dn + dv) * row_bytes;
            for (uint32_t i = 0; i < dn; ++i) {
                dequantize_row(lw.attn_kv_b->type, head + i * row_bytes, row.data(), rkv);
                for (uint32_t ci = 0; ci < rkv; ++ci) put(wk_t, k0 + static_cast<size_t>(ci) * dn + i, row[ci]);
            }
            for (uint32_t j = 0; j < dv; ++j) {
                dequantize_row(lw.attn_kv_b->type, head + (dn + j) * row_bytes, row.data(), rkv);
                for (uint32_t ci = 0; ci < rkv; ++ci) put(wv, v0 + static_cast<size_t>(j) * rkv + ci, row[ci]);
            }
        } else {
            const size_t k_row_bytes = tensor_row_bytes(lw.attn_k_b->type, dn);
            const size_t v_row_bytes = tensor_row_bytes(lw.attn_v_b->type, rkv);
            for (uint32_t ci = 0; ci < rkv; ++ci) {
                dequantize_row(lw.attn_k_b->type, lw.attn_k_b->data + (static_cast<size_t>(h) * rkv + ci) * k_row_bytes, row.data(), dn);
                for (uint32_t i = 0; i < dn; ++i) put(wk_t, k0 + static_cast<size_t>(ci) * dn + i, row[i]);
            }
            for (uint32_t j = 0; j < dv; ++j) {
                dequantize_row(lw.attn_v_b->type, lw.attn_v_b->data + (static_cast<size_t>(h) * dv + j) * v_row_bytes, row.data(), rkv);
                for (uint32_t ci = 0; ci < rkv; ++ci) put(wv, v0 + static_cast<size_t>(j) * rkv + ci, row[ci]);
            }
        }
    }
}

} // namespace latent
