#include "cpu/cpu_forward.h"

#include "backend/backend_common.h"
#include "core/error.h"
#include "core/huge_pages.h"
#include "core/mapped_file.h"
#include "cpu/latent_attention.h"
#include "cpu/section_profile.h"
#include "cpu/vector_math.h"
#include "tensor/tensor_types.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <tuple>
#include <utility>

#include <spdlog/spdlog.h>

namespace latent::cpu {

namespace {

WeightMatrix matrix_of(const gguf::TensorInfo& t) { return weight_matrix(t); }

uint64_t bytes_of(const gguf::TensorInfo* t) { return t ? t->size_bytes : 0; }

void rms_norm_rows(float* x, size_t n, size_t width, const float* gain, float eps) {
    for (size_t t = 0; t < n; ++t) {
        float* v = x + t * width;
        double sum = 0.0;
        for (size_t i = 0; i < width; ++i) sum += static_cast<double>(v[i]) * v[i];
        const float scale = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(width)) + eps);
        for (size_t i = 0; i < width; ++i) v[i] = (v[i] * scale) * gain[i];
    }
}

std::vector<float> decode_vector(const gguf::TensorInfo* t) {
    if (!t) return {};
    std::vector<float> v(t->ne[0]);
    dequantize_row(t->type, t->data, v.data(), static_cast<int64_t>(t->ne[0]));
    return v;
}

} // namespace

CpuForward::CpuForward(const Model& model, const BackendOptions& options, uint32_t n_sequences, uint32_t n_layers)
    : model_(model), c_(model.config()), options_(options), n_layers_(std::min(n_layers, model.config().n_layer)),
      pool_(options.n_threads), ffn_(model.config(), pool_) {
    if (options.cache_type == KvCacheType::BF16) throw Error("a bf16 KV cache needs the cuda backend; use --cache-type f16 or f32");
    row_width_ = c_.kv_lora_rank + c_.qk_rope_dim;
    elem_bytes_ = options.cache_type == KvCacheType::F16 ? 2 : 4;
    layer_cache_bytes_ = static_cast<size_t>(options.n_ctx) * row_width_ * elem_bytes_;
    caches_.resize(n_sequences);
    for (auto& cache : caches_) {
        cache.resize(n_layers_ * layer_cache_bytes_); // asks for huge pages before the first touch
        std::memset(cache.data(), 0, cache.size());
    }
    prepare_layers();
    prefault_weights();
}

// The weights this object reads, mapped into the page tables before the first batch (as
// llama.cpp's MAP_POPULATE does): otherwise the first batch takes the page faults, stalling the
// kernels that first touch each page. Only when they fit in the memory available with room to
// spare; else pages come in as they are touched. (A page of a truncated file is caught by the
// pool and reported by the first batch as a changed model file.)
void CpuForward::prefault_weights() {
    std::vector<const gguf::TensorInfo*> tensors;
    if (n_layers_ == c_.n_layer) {
        tensors = model_.weights().tensors();
    } else {
        for (uint32_t il = 0; il < n_layers_; ++il) {
            const auto layer = model_.weights().layers[il].tensors();
            tensors.insert(tensors.end(), layer.begin(), layer.end());
        }
    }
    uint64_t total = 0;
    for (const gguf::TensorInfo* t : tensors) total += t->size_bytes;
    const uint64_t available = available_memory_bytes();
    if (available == 0 || total > available / 10 * 8) return;
    for (const gguf::TensorInfo* t : tensors) prefault_mapped(t->data, t->size_bytes);
    reload_small_pages(tensors);
    // And one read per page on the pool (see touch_mapped: ~0.15 s per 2 GiB and thread where
    // it matters, so that the first tokens run at the speed of the later ones).
    constexpr size_t kChunk = size_t{32} << 20;
    std::vector<std::pair<const uint8_t*, size_t>> chunks;
    for (const gguf::TensorInfo* t : tensors) {
        for (size_t offset = 0; offset < t->size_bytes; offset += kChunk) {
            chunks.emplace_back(t->data + offset, std::min(kChunk, static_cast<size_t>(t->size_bytes) - offset));
        }
    }
    pool_.parallel_for(chunks.size(), [&](size_t task, unsigned) { touch_mapped(chunks[task].first, chunks[task].second); });
}

// Where the page cache held the weights in small pages (the file was cached while it was
// downloaded or copied), a generated token runs slower (by 3.6% to a quarter, depending on the
// machine): read those parts back in 2 MiB pages (MappedFile::reload_in_huge_pages), at most
// ~30 s of disk reads per file.
void CpuForward::reload_small_pages(const std::vector<const gguf::TensorInfo*>& tensors) {
    for (const auto& part : model_.files().parts()) {
        const MappedFile* map = part->mapping();
        if (map == nullptr) continue;
        std::vector<std::pair<const uint8_t*, size_t>> ranges;
        for (const gguf::TensorInfo* t : tensors) {
            if (t->data >= map->data() && t->data < map->data() + map->size()) ranges.emplace_back(t->data, t->size_bytes);
        }
        const HugePageReload r = map->reload_in_huge_pages(ranges, 30.0);
        if (r.small_bytes == 0) continue;
        auto mib = [](uint64_t bytes) { return bytes >> 20; };
        spdlog::info("{}: {} MiB of the weights were cached in small pages; read {} MiB back in {:.1f} s, {} MiB now in 2 MiB pages{}{}",
                     map->path().string(), mib(r.small_bytes), mib(r.reloaded_bytes), r.seconds, mib(r.now_huge_bytes),
                     r.stopped.empty() ? "" : "; stopped: ", r.stopped);
    }
}

void CpuForward::embed(std::span<const int32_t> tokens, std::vector<float>& x) const {
    const gguf::TensorInfo& embd = *model_.weights().token_embd;
    const size_t d = c_.n_embd;
    resize_scratch(x, tokens.size() * d);
    const size_t row_bytes = tensor_row_bytes(embd.type, static_cast<int64_t>(d));
    for (size_t t = 0; t < tokens.size(); ++t) {
        dequantize_row(embd.type, embd.data + static_cast<size_t>(tokens[t]) * row_bytes, x.data() + t * d, static_cast<int64_t>(d));
    }
}

void CpuForward::forward(std::span<const int32_t> tokens, std::span<const TokenRun> runs, std::span<const uint32_t> logit_rows, float* logits) {
    if (n_layers_ != c_.n_layer) throw Error("internal: CpuForward::forward needs every layer");
    const size_t d = c_.n_embd;
    std::vector<float>& x = buf_x_;
    {
        ProfiledSection section("embedding");
        embed(tokens, x);
    }
    run_layers(x, runs);
    if (!logit_rows.empty()) {
        ProfiledSection section("output head", bytes_of(model_.weights().output));
        std::vector<float> rows(logit_rows.size() * d);
        for (size_t r = 0; r < logit_rows.size(); ++r) std::copy_n(x.data() + logit_rows[r] * d, d, rows.data() + r * d);
        rms_norm_rows(rows.data(), logit_rows.size(), d, output_norm_.data(), c_.rms_eps);
        matmul(matrix_of(*model_.weights().output), rows.data(), logit_rows.size(), logits);
    }
}

void CpuForward::run_layers(std::vector<float>& x, std::span<const TokenRun> runs) {
    const ModelWeights& w = model_.weights();
    const size_t d = c_.n_embd, n = x.size() / d;
    std::vector<float>& xn = buf_xn_;
    for (uint32_t il = 0; il < n_layers_; ++il) {
        const LayerWeights& lw = w.layers[il];
        const LayerViews& lv = views_[il];
        {
            ProfiledSection section("norms and residuals");
            xn = x;
            rms_norm_rows(xn.data(), n, d, lv.attn_norm.data(), c_.rms_eps);
        }
        attention(il, lw, lv, xn, n, runs);
        {
            ProfiledSection section("norms and residuals");
            for (size_t i = 0; i < n * d; ++i) x[i] += buf_out_[i];
            xn = x;
            rms_norm_rows(xn.data(), n, d, lv.ffn_norm.data(), c_.rms_eps);
        }
        if (lw.is_moe) moe(lw, lv, xn, n);
        else dense_ffn(*lw.ffn_gate, *lw.ffn_up, *lw.ffn_down, xn.data(), n, buf_out_);
        ProfiledSection section("norms and residuals");
        for (size_t i = 0; i < n * d; ++i) x[i] += buf_out_[i];
    }
}

// Per-head up-projections as float matrices, for both file layouts: the absorbed form
// multiplies them with float activations (the latent query and the attention-weighted
// latent), which keeps attention as exact as the decompressed form, where each key's latent
// is rounded separately and the rounding averages out over the keys. Quantised weights are
// kept as float16 (their own rounding is far coarser than f16's), float weights as float32
// (exactly the decoded values).
void CpuForward::prepare_layers() {
    const ModelWeights& w = model_.weights();
    const uint32_t H = c_.n_head, dn = c_.qk_nope_dim, dv = c_.v_head_dim, rkv = c_.kv_lora_rank;
    output_norm_ = decode_vector(w.output_norm);
    views_.resize(n_layers_);
    // Every layer's copies in one buffer, in 2 MiB pages where the system gives them (a decode
    // step reads all of them, 4 MiB per layer of V2-Lite: in 4 KiB pages each of those pages
    // cost a TLB miss), each layer's two copies 64-byte aligned.
    struct Layout {
        bool float_source;               // float weights stay float32, quantised ones become f16
        size_t offset, wk_t_bytes, wv_bytes;
    };
    auto aligned = [](size_t bytes) { return (bytes + 63) / 64 * 64; };
    std::vector<Layout> layouts(n_layers_);
    size_t total = 0;
    for (uint32_t il = 0; il < n_layers_; ++il) {
        const LayerWeights& lw = w.layers[il];
        const gguf::TensorInfo* source = lw.attn_kv_b ? lw.attn_kv_b : lw.attn_k_b;
        Layout& l = layouts[il];
        l.float_source = activation_format(source->type) == ActivationFormat::F32;
        l.offset = total;
        std::tie(l.wk_t_bytes, l.wv_bytes) = absorbed_head_bytes(c_, l.float_source);
        total += aligned(l.wk_t_bytes) + aligned(l.wv_bytes);
    }
    resize_scratch(absorbed_store_, total);
    for (uint32_t il = 0; il < n_layers_; ++il) {
        const LayerWeights& lw = w.layers[il];
        const Layout& l = layouts[il];
        LayerViews& v = views_[il];
        v.attn_norm = decode_vector(lw.attn_norm);
        v.ffn_norm = decode_vector(lw.ffn_norm);
        v.q_a_norm = decode_vector(lw.attn_q_a_norm);
        v.kv_a_norm = decode_vector(lw.attn_kv_a_norm);
        v.selection_bias = decode_vector(lw.exp_probs_b);
        const TensorType copy_type = l.float_source ? TensorType::F32 : TensorType::F16;
        const size_t elem = l.float_source ? 4 : 2;
        uint8_t* wk_t_copy = absorbed_store_.data() + l.offset;
        uint8_t* wv_copy = wk_t_copy + aligned(l.wk_t_bytes);
        absorbed_head_matrices(model_, il, l.float_source, std::span<uint8_t>(wk_t_copy, l.wk_t_bytes), std::span<uint8_t>(wv_copy, l.wv_bytes));
        v.wk_t_bytes = l.wk_t_bytes;
        v.wv_bytes = l.wv_bytes;
        auto matrix = [&](const uint8_t* store, size_t offset, int64_t rows, int64_t cols) {
            WeightMatrix m;
            m.type = copy_type;
            m.rows = rows;
            m.cols = cols;
            m.row_bytes = static_cast<size_t>(cols) * elem;
            m.data = store + offset * elem;
            return m;
        };
        for (uint32_t h = 0; h < H; ++h) {
            v.wk_t.push_back(matrix(wk_t_copy, static_cast<size_t>(h) * rkv * dn, rkv, dn));
            v.wv.push_back(matrix(wv_copy, static_cast<size_t>(h) * dv * rkv, dv, rkv));
        }
    }
}

void CpuForward::attention(uint32_t il, const LayerWeights& lw, const LayerViews& lv, const std::vector<float>& xn, size_t n, std::span<const TokenRun> runs) {
    const uint32_t H = c_.n_head, dqk = c_.qk_head_dim, dn = c_.qk_nope_dim, dr = c_.qk_rope_dim, dv = c_.v_head_dim, rkv = c_.kv_lora_rank;
    std::vector<float>& q = buf_q_;
    resize_scratch(q, n * H * dqk);
    std::optional<ProfiledSection> section;
    section.emplace("attention: q, kv_a projections",
                    bytes_of(lw.attn_q) + bytes_of(lw.attn_q_a) + bytes_of(lw.attn_q_b) + bytes_of(lw.attn_kv_a_mqa));
    // The query (or its compression q_a) and kv_a read the same input: one step for both.
    std::vector<float>& kv = buf_kv_;
    resize_scratch(kv, n * (rkv + dr));
    if (c_.q_compressed()) {
        std::vector<float>& qa = buf_tmp_;
        resize_scratch(qa, n * c_.q_lora_rank);
        ffn_.matmul_precise_pair(matrix_of(*lw.attn_q_a), matrix_of(*lw.attn_kv_a_mqa), xn.data(), n, qa.data(), kv.data());
        rms_norm_rows(qa.data(), n, c_.q_lora_rank, lv.q_a_norm.data(), c_.rms_eps);
        matmul_precise(matrix_of(*lw.attn_q_b), qa.data(), n, q.data());
    } else {
        ffn_.matmul_precise_pair(matrix_of(*lw.attn_q), matrix_of(*lw.attn_kv_a_mqa), xn.data(), n, q.data(), kv.data());
    }

    // Cache rows and roped queries.
    section.emplace("attention: norm, rope, cache rows");
    std::vector<float> cos_table(dr / 2), sin_table(dr / 2);
    for (const TokenRun& run : runs) for (size_t t = run.begin; t < run.begin + run.count; ++t) {
        const uint32_t pos = run.first_pos + static_cast<uint32_t>(t - run.begin);
        float* row = kv.data() + t * (rkv + dr);
        rms_norm_rows(row, 1, rkv, lv.kv_a_norm.data(), c_.rms_eps);
        rope_angles(c_, pos, cos_table.data(), sin_table.data());
        apply_rope(row + rkv, dr, cos_table.data(), sin_table.data());
        uint8_t* dst = cache_rows(run.sequence, il) + static_cast<size_t>(pos) * row_width_ * elem_bytes_;
        if (elem_bytes_ == 2) {
            fp32_to_fp16_row(row, dst, row_width_);
        } else {
            std::memcpy(dst, row, row_width_ * 4);
        }
        for (uint32_t h = 0; h < H; ++h) apply_rope(q.data() + (t * H + h) * dqk + dn, dr, cos_table.data(), sin_table.data());
    }

    section.reset();
    std::vector<float>& o = buf_o_;
    resize_scratch(o, n * H * dv);
    if (use_decompressed(runs)) {
        attention_decompressed(il, lv, runs, o);
    } else {
        attention_absorbed(il, lv, n, runs, o);
    }
    resize_scratch(buf_out_, n * c_.n_embd);
    section.emplace("attention: output projection", bytes_of(lw.attn_output));
    matmul(matrix_of(*lw.attn_output), o.data(), n, buf_out_.data());
}

namespace {
// LATENT_CPU_ATTENTION=absorbed|decompressed (read once) forces a form, as set_attention_form does.
AttentionForm form_from_environment() {
    const char* value = std::getenv("LATENT_CPU_ATTENTION");
    if (value == nullptr) return AttentionForm::Auto;
    if (std::strcmp(value, "absorbed") == 0) return AttentionForm::Absorbed;
    if (std::strcmp(value, "decompressed") == 0) return AttentionForm::Decompressed;
    return AttentionForm::Auto;
}
std::atomic<int> g_attention_form{static_cast<int>(form_from_environment())};
} // namespace

void set_attention_form(AttentionForm form) { g_attention_form.store(static_cast<int>(form), std::memory_order_relaxed); }

// The two forms compute the same attention (§4.6 and §4.7); what differs is the work. Per head,
// absorbed: every query is projected into latent space and back (T · (d_n + d_v) · r_kv
// multiply-adds) and each (query, key) pair costs a full cache row plus a latent (row width +
// r_kv); decompressed: every key's latent is projected to its key and value (N · (d_n + d_v) ·
// r_kv) and a pair costs d_qk + d_v. A fresh prompt (N = T) is always cheaper decompressed (about
// 3.4x less per pair for DeepSeek's shapes); a decode step (T = 1) or a short turn appended to a
// long cache is cheaper absorbed. Batches of fewer than kDecompressedMinTokens tokens always take
// the absorbed form (the decompression's fixed costs).
bool CpuForward::use_decompressed(std::span<const TokenRun> runs) const {
    const auto forced = static_cast<AttentionForm>(g_attention_form.load(std::memory_order_relaxed));
    if (forced != AttentionForm::Auto) return forced == AttentionForm::Decompressed;
    constexpr size_t kDecompressedMinTokens = 32;
    const double projections = static_cast<double>(c_.qk_nope_dim + c_.v_head_dim) * c_.kv_lora_rank;
    double absorbed = 0, decompressed = 0;
    for (const TokenRun& run : runs) {
        if (run.count < kDecompressedMinTokens) return false;
        const double T = static_cast<double>(run.count), N = static_cast<double>(run.first_pos) + T;
        const double pairs = T * static_cast<double>(run.first_pos) + T * (T + 1) / 2;
        absorbed += T * projections + pairs * (row_width_ + c_.kv_lora_rank);
        decompressed += N * projections + pairs * (c_.qk_head_dim + c_.v_head_dim);
    }
    return decompressed < absorbed;
}

// §4.6 for the runs of a prompt: per run and head, the keys and values of every cached position
// (K = C·W_UKᵀ ‖ RoPE(k_pe), V = C·W_UVᵀ), then per block of queries the scores against the keys
// up to the block's last position, causal softmax, and P·V: float products on the batch GEMM.
// Heads are independent: they run in parallel, one head per task with the thread's own scratch
// and single-threaded products (bit-identical to pooled ones: no kernel's result depends on the
// split), so that the per-head decoding and copying run on every thread instead of one.
void CpuForward::attention_decompressed(uint32_t il, const LayerViews& lv, std::span<const TokenRun> runs, std::vector<float>& o) {
    const uint32_t H = c_.n_head, dqk = c_.qk_head_dim, dn = c_.qk_nope_dim, dr = c_.qk_rope_dim, dv = c_.v_head_dim, rkv = c_.kv_lora_rank;
    const std::vector<float>& q = buf_q_;
    constexpr size_t kQueryBlock = 128;
    auto float_matrix = [](const float* data, int64_t rows, int64_t cols, int64_t stride) {
        WeightMatrix m;
        m.type = TensorType::F32;
        m.data = reinterpret_cast<const uint8_t*>(data);
        m.rows = rows;
        m.cols = cols;
        m.row_bytes = static_cast<size_t>(stride) * 4;
        return m;
    };
    for (const TokenRun& run : runs) {
        ProfiledSection section("attention: decompressed form (prompt)");
        const size_t N = run.first_pos + run.count;
        // The run's cache rows as floats, shared by every head: latents C (N × r_kv), roped keys.
        std::vector<float>& latents = buf_latents_;
        std::vector<float>& rope = buf_gathered_;
        resize_scratch(latents, N * rkv);
        resize_scratch(rope, N * dr);
        const uint8_t* cache = cache_rows(run.sequence, il);
        constexpr size_t kRowsPerTask = 64;
        pool_.parallel_for((N + kRowsPerTask - 1) / kRowsPerTask, [&](size_t task, unsigned) {
            std::vector<float> row(row_width_);
            for (size_t k = task * kRowsPerTask; k < std::min(N, (task + 1) * kRowsPerTask); ++k) {
                const uint8_t* src = cache + k * row_width_ * elem_bytes_;
                if (elem_bytes_ == 2) {
                    fp16_to_fp32_row(src, row.data(), row_width_);
                } else {
                    std::memcpy(row.data(), src, row_width_ * 4);
                }
                std::copy_n(row.data(), rkv, latents.data() + k * rkv);
                std::copy_n(row.data() + rkv, dr, rope.data() + k * dr);
            }
        });
        // Scratch per task: about (d_n + d_qk + d_v + block) × N floats. Fewer tasks (heads at
        // once) than threads when that would pass kScratchBudget (very long prompts on many
        // threads). Scratch belongs to a task, not a thread, so at most `concurrent` sets grow.
        constexpr size_t kScratchBudget = size_t{512} << 20;
        const size_t per_thread = (static_cast<size_t>(dn) + dqk + dv + kQueryBlock) * N * sizeof(float) +
                                  static_cast<size_t>(dn + dv) * rkv * sizeof(float);
        const size_t concurrent = std::clamp<size_t>(kScratchBudget / std::max<size_t>(1, per_thread), 1, pool_.size());
        if (head_scratch_.size() < concurrent) head_scratch_.resize(concurrent);
        auto one_head = [&](uint32_t h, HeadScratch& s) {
            s.wk.resize(static_cast<size_t>(dn) * rkv);
            s.wv.resize(static_cast<size_t>(dv) * rkv);
            s.decoded.resize(std::max(rkv, dn));
            resize_scratch(s.k_nope, N * dn);
            resize_scratch(s.keys, N * dqk);         // N × d_qk: [k_nope ‖ k_rope] of this head
            resize_scratch(s.values_t, dv * N);      // d_v × N: this head's values, transposed
            s.out.resize(kQueryBlock * dv);
            s.valid.resize(kQueryBlock);
            // W_UK,h (d_n × r_kv) from the stored W_UK,hᵀ, and W_UV,h, as floats.
            for (uint32_t ci = 0; ci < rkv; ++ci) {
                const WeightMatrix& t = lv.wk_t[h];
                dequantize_row(t.type, t.data + ci * t.row_bytes, s.decoded.data(), dn);
                for (uint32_t i = 0; i < dn; ++i) s.wk[static_cast<size_t>(i) * rkv + ci] = s.decoded[i];
            }
            for (uint32_t j = 0; j < dv; ++j) {
                const WeightMatrix& t = lv.wv[h];
                dequantize_row(t.type, t.data + j * t.row_bytes, s.wv.data() + static_cast<size_t>(j) * rkv, rkv);
            }
            matmul_f32(float_matrix(s.wk.data(), dn, rkv, rkv), latents.data(), static_cast<int64_t>(N), s.k_nope.data());
            // The values transposed straight away: the latents as the "weights" (N rows) and
            // W_UV,h's rows as the "tokens", values_t[j][k] = latents[k] · W_UV,h[j]. The same dot
            // products as latents × W_UV,hᵀ and a transpose, and with both sides past the float
            // batch kernel's threshold (every prompt that takes this form) the same FMA chains,
            // bit for bit.
            matmul_f32(float_matrix(latents.data(), static_cast<int64_t>(N), rkv, rkv), s.wv.data(), dv, s.values_t.data());
            for (size_t k = 0; k < N; ++k) {
                std::copy_n(s.k_nope.data() + k * dn, dn, s.keys.data() + k * dqk);
                std::copy_n(rope.data() + k * dr, dr, s.keys.data() + k * dqk + dn);
            }
            // Queries of this head, block by block.
            for (size_t b0 = 0; b0 < run.count; b0 += kQueryBlock) {
                const size_t b1 = std::min(run.count, b0 + kQueryBlock), nb = b1 - b0;
                const size_t n_keys = run.first_pos + b1; // keys the block's last query sees
                s.queries.resize(nb * dqk);
                for (size_t i = 0; i < nb; ++i) std::copy_n(q.data() + ((run.begin + b0 + i) * H + h) * dqk, dqk, s.queries.data() + i * dqk);
                resize_scratch(s.scores, nb * n_keys);
                matmul_f32(float_matrix(s.keys.data(), static_cast<int64_t>(n_keys), dqk, dqk), s.queries.data(), static_cast<int64_t>(nb),
                           s.scores.data());
                for (size_t i = 0; i < nb; ++i) s.valid[i] = static_cast<uint32_t>(run.first_pos + b0 + i + 1);
                softmax_rows(s.scores.data(), nb, n_keys, s.valid.data(), c_.kq_scale, nullptr);
                matmul_f32(float_matrix(s.values_t.data(), dv, static_cast<int64_t>(n_keys), static_cast<int64_t>(N)), s.scores.data(),
                           static_cast<int64_t>(nb), s.out.data());
                for (size_t i = 0; i < nb; ++i) std::copy_n(s.out.data() + i * dv, dv, o.data() + ((run.begin + b0 + i) * H + h) * dv);
            }
        };
        // Task i handles heads i, i + concurrent, ... with scratch set i.
        pool_.parallel_for(concurrent, [&](size_t task, unsigned) {
            for (uint32_t h = static_cast<uint32_t>(task); h < H; h += static_cast<uint32_t>(concurrent)) one_head(h, head_scratch_[task]);
        });
    }
}

// §4.7: every head's query absorbed into latent space, scored against the cache rows themselves.
void CpuForward::attention_absorbed(uint32_t il, const LayerViews& lv, size_t n, std::span<const TokenRun> runs, std::vector<float>& o) {
    const uint32_t H = c_.n_head, dqk = c_.qk_head_dim, dn = c_.qk_nope_dim, dr = c_.qk_rope_dim, dv = c_.v_head_dim, rkv = c_.kv_lora_rank;
    const std::vector<float>& q = buf_q_;
    std::optional<ProfiledSection> section;
    // Latent-space queries [W_UKᵀ q_nope ‖ q_rope] for every token and head: one matmul per
    // head over the whole batch, so each head's matrix is read once per batch.
    section.emplace("attention: W_UK (absorbed)", lv.wk_t_bytes);
    const size_t qw = row_width_;
    std::vector<float>& queries = buf_queries_;
    resize_scratch(queries, n * H * qw);
    for_each_head([&](uint32_t h, AbsorbedScratch& s, ThreadPool* pool) {
        project_rows(s, lv.wk_t[h], q.data() + static_cast<size_t>(h) * dqk, static_cast<size_t>(H) * dqk, n, pool);
        for (size_t t = 0; t < n; ++t) {
            float* dst = queries.data() + (t * H + h) * qw;
            std::copy_n(s.projected.data() + t * rkv, rkv, dst);
            std::copy_n(q.data() + (t * H + h) * dqk + dn, dr, dst + rkv);
        }
    });

    // Attention of each token over its sequence's cache rows up to its position: a run of
    // many tokens (prefill) runs in parallel, one token per thread; a shorter run (a decode
    // step) splits each token's keys across the threads. The choice is made per run, so a
    // sequence in a batch with others is computed exactly as it would be alone.
    std::vector<float>& latents = buf_latents_;
    resize_scratch(latents, n * H * rkv);
    section.emplace("attention: scores and weighted latents");
    for (const TokenRun& run : runs) {
        for (size_t i = 0; i < run.count; ++i) section->add_bytes(uint64_t{run.first_pos + i + 1} * row_width_ * elem_bytes_);
        LatentCache cache;
        cache.rows = cache_rows(run.sequence, il);
        cache.type = options_.cache_type == KvCacheType::F16 ? TensorType::F16 : TensorType::F32;
        cache.row_width = row_width_;
        cache.latent_width = rkv;
        cache.row_bytes = static_cast<size_t>(row_width_) * elem_bytes_;
        auto attend = [&](size_t i, ThreadPool* pool) {
            thread_local LatentAttentionScratch scratch;
            const size_t t = run.begin + i;
            const uint32_t n_keys = run.first_pos + static_cast<uint32_t>(i) + 1;
            latent_attention(queries.data() + t * H * qw, H, cache, n_keys, c_.kq_scale, latents.data() + t * H * rkv, pool, scratch);
        };
        if (run.count >= pool_.size() && pool_.size() > 1) {
            pool_.parallel_for(run.count, [&](size_t i, unsigned) { attend(i, nullptr); });
        } else {
            for (size_t i = 0; i < run.count; ++i) attend(i, &pool_);
        }
    }

    // Values: W_UV per head over the batch's attention-weighted latents.
    section.emplace("attention: W_UV (absorbed)", lv.wv_bytes);
    for_each_head([&](uint32_t h, AbsorbedScratch& s, ThreadPool* pool) {
        project_rows(s, lv.wv[h], latents.data() + static_cast<size_t>(h) * rkv, static_cast<size_t>(H) * rkv, n, pool);
        for (size_t t = 0; t < n; ++t) std::copy_n(s.projected.data() + t * dv, dv, o.data() + (t * H + h) * dv);
    });
}

// s.projected (n × w.rows) = w · the n vectors of w.cols floats at src + t · stride.
void CpuForward::project_rows(AbsorbedScratch& s, const WeightMatrix& w, const float* src, size_t stride, size_t n, ThreadPool* pool) {
    const size_t width = static_cast<size_t>(w.cols);
    resize_scratch(s.gathered, n * width);
    for (size_t t = 0; t < n; ++t) std::copy_n(src + t * stride, width, s.gathered.data() + t * width);
    resize_scratch(s.projected, n * static_cast<size_t>(w.rows));
    quantize_activations(w.type, s.gathered.data(), w.cols, static_cast<int64_t>(n), s.act, pool);
    cpu::matmul(w, s.act, s.projected.data(), pool);
}

// body(h, scratch, pool) for every head. With at least as many heads as threads, one head per
// pool task, its products single-threaded (pool = nullptr): two pool round trips per projection
// instead of one per head, each of them tiny in a decode step. Otherwise head after head, each
// product split over the pool. The kernels' results do not depend on the split, so both ways
// give the same values.
template <class Body>
void CpuForward::for_each_head(Body&& body) {
    const uint32_t H = c_.n_head;
    if (absorbed_scratch_.size() < pool_.size()) absorbed_scratch_.resize(pool_.size());
    if (H >= pool_.size() && pool_.size() > 1) {
        // In shares: the heads' matrices lie one after another, so each thread reads one stream.
        pool_.parallel_for_shares(H, [&](size_t h, unsigned thread) { body(static_cast<uint32_t>(h), absorbed_scratch_[thread], nullptr); });
    } else {
        for (uint32_t h = 0; h < H; ++h) body(h, absorbed_scratch_[0], &pool_);
    }
}

void CpuForward::dense_ffn(const gguf::TensorInfo& gate, const gguf::TensorInfo& up, const gguf::TensorInfo& down, const float* x, size_t n, std::vector<float>& out) {
    resize_scratch(out, n * c_.n_embd);
    ProfiledSection section("dense FFN", gate.size_bytes + up.size_bytes + down.size_bytes);
    ffn_.swiglu(matrix_of(gate), matrix_of(up), matrix_of(down), x, n, out.data(), true);
}

void CpuForward::moe(const LayerWeights& lw, const LayerViews& lv, const std::vector<float>& xn, size_t n) {
    resize_scratch(buf_out_, n * c_.n_embd);
    ffn_.moe(lw, lv.selection_bias, xn.data(), n, buf_out_.data());
}

} // namespace latent::cpu
