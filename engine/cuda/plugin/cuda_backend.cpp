// The `cuda` backend: the forward pass of backend.h on an NVIDIA GPU through the project's kernels
// (kernels/*.h), or on the CPU emulator in the emulator plugin (the same code).
//
// Weights are uploaded as stored (quantised blocks unchanged) at construction, tensor by tensor
// with progress and cancel, through a pinned staging buffer. The latent cache lives on the device
// in f16 or bf16. A batch runs in chunks of up to kVramPrefillChunk tokens:
//   tokens <= 16   quantised matrix-vector kernels (matmul_quant) reading each weight once;
//   more tokens    weight tiles expanded to f16/bf16 and multiplied by cuBLAS (gemm.h), except for
//                  float weights, which keep exact float products (16 tokens per launch);
//   attention      absorbed form (§4.7) like the cpu backend: per-head W_UK,hᵀ and W_UV,h products
//                  (forward_ops.h) around mla_decode (one token, flash-decoding over the context)
//                  or mla_prefill (a chunk, causal);
//   MoE            moe_ffn: routing and expert grouping on the device.
// One-token decode steps are captured once into a CUDA graph and replayed: the token id, its
// position and the key count are read from device memory, so replays need no re-capture.
//
// Placement (gpu_placement.h): routed experts of the first N MoE layers may stay in host memory;
// those layers copy the normalised activations to pinned host memory, run the router and the
// chosen experts on the CPU kernels (cpu/ffn_runner.h) while the GPU runs the shared experts, and
// add the result back. As the last resort the first L layers run whole on the CPU
// (cpu/cpu_forward.h: the embedding, attention over a host-memory cache, the FFN); the residual
// stream they leave is copied to the device once per chunk and the GPU runs the rest. Such
// models decode eagerly (no graph).
#include "cuda/plugin/cuda_backend_state.h"

#include "core/error.h"
#include "tensor/tensor_types.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace latent {

namespace cudab {

k::QuantType quant_type_of(const gguf::TensorInfo& t) {
    const uint32_t id = static_cast<uint32_t>(t.type);
    if (!k::is_known_quant_type(id)) {
        throw Error("the cuda backend has no kernels for tensor '" + t.name + "' of type " + std::string(tensor_type_name(t.type)));
    }
    return static_cast<k::QuantType>(id);
}

bool is_float_type(k::QuantType t) { return t == k::QuantType::F32 || t == k::QuantType::F16 || t == k::QuantType::BF16; }

// ---- Upload ---------------------------------------------------------------------------------

Uploader::Uploader(std::vector<gpu::Buffer>& store, gpu::Stream stream, uint64_t total_bytes, const std::function<bool(float)>& progress)
    : store_(store), stream_(stream), total_(std::max<uint64_t>(total_bytes, 1)), progress_(progress) {}

Uploader::~Uploader() {
    try {
        gpu::stream_synchronize(stream_);
    } catch (...) {
    }
    for (void* p : staging_) gpu::host_free_pinned(p);
}

void* Uploader::upload_bytes(const void* host, size_t bytes) {
    store_.emplace_back(std::max<size_t>(bytes, 16));
    gpu::Buffer& buffer = store_.back();
    if (staging_.empty()) {
        for (int i = 0; i < 2; ++i) staging_.push_back(gpu::host_alloc_pinned(kStagingBytes));
    }
    // Double-buffered: fill one pinned buffer while the other one's copy runs.
    for (size_t done = 0; done < bytes;) {
        const size_t part = std::min(kStagingBytes, bytes - done);
        if (pending_[next_]) gpu::stream_synchronize(stream_);
        std::memcpy(staging_[next_], static_cast<const uint8_t*>(host) + done, part);
        gpu::copy_to_device(static_cast<uint8_t*>(buffer.data()) + done, staging_[next_], part, stream_);
        pending_[next_] = true;
        next_ ^= 1;
        done += part;
    }
    uploaded_ += bytes;
    return buffer.data();
}

const void* Uploader::tensor(const gguf::TensorInfo* t) {
    if (t == nullptr) return nullptr;
    if (const auto it = uploaded_tensors_.find(t); it != uploaded_tensors_.end()) return it->second;
    void* device = upload_bytes(t->data, t->size_bytes);
    uploaded_tensors_[t] = device;
    report();
    return device;
}

const float* Uploader::floats(const gguf::TensorInfo* t) {
    if (t == nullptr) return nullptr;
    std::vector<float> values(t->ne[0]);
    dequantize_row(t->type, t->data, values.data(), static_cast<int64_t>(t->ne[0]));
    return static_cast<const float*>(upload_bytes(values.data(), values.size() * sizeof(float)));
}

void Uploader::report() {
    if (progress_ && !progress_(std::min(1.0f, static_cast<float>(static_cast<double>(uploaded_) / static_cast<double>(total_))))) {
        throw Cancelled();
    }
}

k::QuantMatrix matrix(const gguf::TensorInfo* t, const void* device) {
    k::QuantMatrix m;
    if (t == nullptr) return m;
    m.type = quant_type_of(*t);
    m.data = device;
    m.cols = static_cast<int64_t>(t->ne[0]);
    m.rows = static_cast<int64_t>(t->ne[1]);
    if (m.cols % 32 != 0) {
        throw Error("the cuda backend needs rows of whole 32-element slices; tensor '" + t->name + "' has " + std::to_string(m.cols));
    }
    return m;
}

// ---- Construction ---------------------------------------------------------------------------

CudaBackend::CudaBackend(const Model& model, const BackendOptions& options, const GpuPlacement& placement)
    : SequenceBackend(model, options), placement_(placement) {
    if (options.cache_type == KvCacheType::F32) {
        throw Error("the cuda backend keeps the KV cache in f16 or bf16; use --cache-type f16 or bf16");
    }
    if (!placement.fits) throw Error("the model does not fit on the GPU: " + placement.describe());
    const uint32_t rkv = c_.kv_lora_rank, dr = c_.qk_rope_dim;
    if (rkv > 512 || rkv % 2 != 0 || (rkv + dr) % 8 != 0) {
        throw Error("the cuda backend's attention kernels need kv_lora_rank even and at most 512 and kv_lora_rank + rope dims "
                    "a multiple of 8 (this model: " + std::to_string(rkv) + " + " + std::to_string(dr) + ")");
    }
    cache_type_ = options.cache_type == KvCacheType::BF16 ? k::QuantType::BF16 : k::QuantType::F16;
    row_stride_ = rkv + dr;
    rope_ = k::rope_params(dr, c_.rope_freq_base, c_.rope_freq_scale, c_.rope_scaling == RopeScaling::Yarn, c_.yarn_low_dim,
                           c_.yarn_high_dim);
    try {
        stream_ = gpu::stream_create();
        upload_weights();
        allocate_work();
    } catch (const gpu::DeviceError& e) {
        release();
        throw Error(std::string("GPU error while loading the model: ") + e.what());
    } catch (...) {
        release();
        throw;
    }
    options_.load_progress = nullptr; // the caller's callback may not outlive the load
    spdlog::info("cuda backend on {}: {}", gpu::device_name(), placement_.describe());
}

CudaBackend::~CudaBackend() { release(); }

void CudaBackend::release() noexcept {
    try {
        if (stream_.handle) gpu::stream_synchronize(stream_);
    } catch (...) {
    }
    if (graph_.handle) gpu::graph_destroy(graph_);
    graph_ = {};
    layers_.clear();
    weights_.clear();
    work_.clear();
    if (host_in_) gpu::host_free_pinned(host_in_);
    if (host_out_) gpu::host_free_pinned(host_out_);
    host_in_ = host_out_ = nullptr;
    if (stream_.handle) gpu::stream_destroy(stream_);
    stream_ = {};
}

void CudaBackend::upload_weights() {
    const ModelWeights& w = model_.weights();
    const uint32_t rkv = c_.kv_lora_rank;
    Uploader up(weights_, stream_, placement_.device_weight_bytes, options_.load_progress);
    up.report();
    if (placement_.layers_on_cpu == 0) {
        embedding_ = up.tensor(w.token_embd);
        embedding_type_ = static_cast<uint32_t>(quant_type_of(*w.token_embd));
    }
    layers_.resize(c_.n_layer);
    for (uint32_t il = 0; il < c_.n_layer; ++il) {
        const LayerWeights& lw = w.layers[il];
        DeviceLayer& d = layers_[il];
        d.moe_layer = lw.is_moe;
        d.on_host = placement_.layer_on_cpu.at(il);
        if (d.on_host) continue;
        d.attn_norm = up.floats(lw.attn_norm);
        d.ffn_norm = up.floats(lw.ffn_norm);
        d.q_a_norm = up.floats(lw.attn_q_a_norm);
        d.kv_a_norm = up.floats(lw.attn_kv_a_norm);
        if (c_.q_compressed()) {
            d.q_a = matrix(lw.attn_q_a, up.tensor(lw.attn_q_a));
            d.q_b = matrix(lw.attn_q_b, up.tensor(lw.attn_q_b));
        } else {
            d.q = matrix(lw.attn_q, up.tensor(lw.attn_q));
        }
        // attn_kv_a_mqa's rows [c_kv (r_kv) ‖ k_pe (d_r)] as two matrices, so each output is dense.
        const gguf::TensorInfo& kv = *lw.attn_kv_a_mqa;
        const size_t kv_row_bytes = tensor_row_bytes(kv.type, static_cast<int64_t>(kv.ne[0]));
        d.kv_latent = matrix(&kv, up.upload_bytes(kv.data, rkv * kv_row_bytes));
        d.kv_latent.rows = rkv;
        d.kv_rope = matrix(&kv, up.upload_bytes(kv.data + rkv * kv_row_bytes, c_.qk_rope_dim * kv_row_bytes));
        d.kv_rope.rows = c_.qk_rope_dim;
        up.report();
        // Per-head up-projections for the absorbed form, as the cpu backend builds them.
        const gguf::TensorInfo* source = lw.attn_kv_b ? lw.attn_kv_b : lw.attn_k_b;
        const bool float_source = is_float_type(quant_type_of(*source));
        std::vector<uint8_t> wk_t, wv;
        absorbed_head_matrices(model_, il, float_source, wk_t, wv);
        d.head_type = float_source ? k::QuantType::F32 : k::QuantType::F16;
        d.wk_t = up.upload_bytes(wk_t.data(), wk_t.size());
        d.wv = up.upload_bytes(wv.data(), wv.size());
        d.out = matrix(lw.attn_output, up.tensor(lw.attn_output));
        d.experts_on_host = placement_.layer_experts_on_cpu.at(il);
        if (!lw.is_moe) {
            d.gate = matrix(lw.ffn_gate, up.tensor(lw.ffn_gate));
            d.up = matrix(lw.ffn_up, up.tensor(lw.ffn_up));
            d.down = matrix(lw.ffn_down, up.tensor(lw.ffn_down));
        } else {
            d.moe.router = matrix(lw.ffn_gate_inp, up.tensor(lw.ffn_gate_inp));
            d.moe.selection_bias = up.floats(lw.exp_probs_b);
            d.moe.gate_shexp = matrix(lw.ffn_gate_shexp, up.tensor(lw.ffn_gate_shexp));
            d.moe.up_shexp = matrix(lw.ffn_up_shexp, up.tensor(lw.ffn_up_shexp));
            d.moe.down_shexp = matrix(lw.ffn_down_shexp, up.tensor(lw.ffn_down_shexp));
            if (d.experts_on_host) {
                d.selection_bias_host.resize(lw.exp_probs_b ? lw.exp_probs_b->ne[0] : 0);
                if (lw.exp_probs_b) dequantize_row(lw.exp_probs_b->type, lw.exp_probs_b->data, d.selection_bias_host.data(), static_cast<int64_t>(lw.exp_probs_b->ne[0]));
            } else {
                d.moe.gate_exps = matrix(lw.ffn_gate_exps, up.tensor(lw.ffn_gate_exps));
                d.moe.up_exps = matrix(lw.ffn_up_exps, up.tensor(lw.ffn_up_exps));
                d.moe.down_exps = matrix(lw.ffn_down_exps, up.tensor(lw.ffn_down_exps));
            }
        }
        d.cache = gpu::Buffer(static_cast<size_t>(options_.n_ctx) * row_stride_ * 2);
    }
    output_norm_ = up.floats(w.output_norm);
    output_ = matrix(w.output, up.tensor(w.output));
    gpu::stream_synchronize(stream_);
    if (options_.load_progress) options_.load_progress(1.0f);
}

k::MoeRouting CudaBackend::routing() const {
    k::MoeRouting r;
    r.n_expert = c_.n_expert;
    r.n_expert_used = c_.n_expert_used;
    r.sigmoid_gating = c_.gating == ExpertGating::Sigmoid;
    r.weights_norm = c_.expert_weights_norm;
    r.weights_scale = c_.expert_weights_scale;
    r.group_count = c_.expert_group_count;
    r.group_used = c_.expert_group_used_count;
    return r;
}

void CudaBackend::allocate_work() {
    const int64_t T = std::min<int64_t>(kVramPrefillChunk, options_.n_ctx);
    max_tokens_ = T;
    const int64_t D = c_.n_embd, H = c_.n_head, dqk = c_.qk_head_dim, rkv = c_.kv_lora_rank, dr = c_.qk_rope_dim, dv = c_.v_head_dim;
    const int64_t F = std::max<int64_t>({int64_t{c_.n_ff}, int64_t{c_.n_ff_expert} * std::max<uint32_t>(c_.n_expert_shared, 1), 32});
    const int64_t widest = std::max<int64_t>({D, int64_t{c_.q_lora_rank}, H * dv, F, rkv});
    auto floats = [&](int64_t n) { return static_cast<float*>(alloc(static_cast<size_t>(n) * sizeof(float))); };
    x_ = floats(T * D);
    xn_ = floats(T * D);
    tmp_ = floats(T * D);
    tmp2_ = floats(T * D);
    qa_ = floats(T * std::max<int64_t>(c_.q_lora_rank, 1));
    q_ = floats(T * H * dqk);
    latent_ = floats(T * rkv);
    kpe_ = floats(T * dr);
    q_latent_ = floats(T * H * rkv);
    q_rope_ = floats(T * H * dr);
    o_latent_ = floats(T * H * rkv);
    o_ = floats(T * H * dv);
    gate_ = floats(T * F);
    up_ = floats(T * F);
    sel_ = floats(T * D);
    logits_ = floats(T * c_.n_vocab);
    q8_ = alloc(k::q8_activation_bytes(widest, k::kMaxBatchTokens));
    norm_q8_ = alloc(k::q8_rows_bytes(D, k::kMaxBatchTokens));
    half_x_ = alloc(static_cast<size_t>(T) * widest * 2);
    stage_ = alloc(kStageBytes);
    y_tile_ = floats(static_cast<int64_t>(kTileFloats));
    ids_ = static_cast<int32_t*>(alloc(static_cast<size_t>(T) * 4));
    positions_ = static_cast<int32_t*>(alloc(static_cast<size_t>(T) * 4));
    n_keys_ = static_cast<uint32_t*>(alloc(4));
    size_t moe_ws = 0;
    for (const DeviceLayer& d : layers_) {
        if (d.moe_layer && !d.on_host && !d.experts_on_host) moe_ws = std::max(moe_ws, k::moe_workspace_bytes(routing(), d.moe, T));
    }
    moe_ws_ = moe_ws ? alloc(moe_ws) : nullptr;
    const auto first_device_layer = std::find_if(layers_.begin(), layers_.end(), [](const DeviceLayer& d) { return !d.on_host; });
    if (first_device_layer != layers_.end()) {
        k::MlaAttentionArgs decode_args = attention_args(1, options_.n_ctx);
        decode_args.cache = first_device_layer->cache.data();
        decode_plan_ = k::mla_decode_plan(decode_args);
        mla_ws_ = decode_plan_.workspace_bytes ? alloc(decode_plan_.workspace_bytes) : nullptr;
    }
    const bool experts_on_host = std::any_of(layers_.begin(), layers_.end(), [](const DeviceLayer& d) { return d.experts_on_host; });
    if (experts_on_host) {
        host_in_ = static_cast<float*>(gpu::host_alloc_pinned(static_cast<size_t>(T * D) * sizeof(float)));
        host_out_ = static_cast<float*>(gpu::host_alloc_pinned(static_cast<size_t>(T * D) * sizeof(float)));
    }
    if (experts_on_host || placement_.layers_on_cpu > 0) {
        // The CPU layers keep an f16 cache (the cpu kernels have no bf16 cache).
        BackendOptions host_options = options_;
        host_options.cache_type = KvCacheType::F16;
        host_options.load_progress = nullptr;
        host_ = std::make_unique<cpu::CpuForward>(model_, host_options, 1, placement_.layers_on_cpu);
    }
}

void* CudaBackend::alloc(size_t bytes) {
    work_.emplace_back(std::max<size_t>(bytes, 16));
    return work_.back().data();
}

k::MlaAttentionArgs CudaBackend::attention_args(uint32_t n_tokens, uint32_t n_keys) const {
    k::MlaAttentionArgs a;
    a.q_latent = q_latent_;
    a.q_rope = q_rope_;
    a.cache_type = cache_type_;
    a.row_stride = row_stride_;
    a.n_heads = c_.n_head;
    a.latent_dim = c_.kv_lora_rank;
    a.rope_dim = c_.qk_rope_dim;
    a.n_tokens = n_tokens;
    a.n_keys = n_keys;
    a.scale = c_.kq_scale;
    a.out = o_latent_;
    return a;
}

// ---- Forward pass ---------------------------------------------------------------------------

void CudaBackend::linear(const k::QuantMatrix& w, const float* x, int64_t n, float* y, const void* x_q8) {
    ScopedSection section(profiler_, "matmul", stream_);
    if (x_q8 != nullptr && n <= k::kMaxBatchTokens && k::uses_q8_activations(w.type)) {
        k::matmul_quant(w, nullptr, x_q8, n, y, stream_); // x already quantised (rms_norm_q8)
        return;
    }
    if (n <= k::kMaxBatchTokens || is_float_type(w.type)) {
        // Float weights keep exact float products at any batch size, 16 tokens per launch.
        for (int64_t t0 = 0; t0 < n; t0 += k::kMaxBatchTokens) {
            const int64_t count = std::min<int64_t>(k::kMaxBatchTokens, n - t0);
            const float* xs = x + t0 * w.cols;
            if (k::uses_q8_activations(w.type)) {
                k::quantize_q8(xs, w.cols, count, q8_, stream_);
                k::matmul_quant(w, nullptr, q8_, count, y + t0 * w.rows, stream_);
            } else {
                k::matmul_quant(w, xs, nullptr, count, y + t0 * w.rows, stream_);
            }
        }
        return;
    }
    // Many tokens: expand weight tiles to f16 and multiply with cuBLAS.
    const k::HalfFormat format = k::HalfFormat::F16;
    k::to_half(half_x_, format, x, static_cast<size_t>(n * w.cols), stream_);
    const int64_t tile_rows = std::max<int64_t>(1, std::min(static_cast<int64_t>(kStageBytes / 2) / w.cols, static_cast<int64_t>(kTileFloats) / n));
    for (int64_t r0 = 0; r0 < w.rows; r0 += tile_rows) {
        const int64_t r1 = std::min(w.rows, r0 + tile_rows);
        k::dequantize_rows(w, r0, r1, format, stage_, stream_);
        if (r0 == 0 && r1 == w.rows) {
            k::gemm(format, stage_, r1 - r0, half_x_, n, w.cols, y, stream_);
        } else {
            k::gemm(format, stage_, r1 - r0, half_x_, n, w.cols, y_tile_, stream_);
            k::copy_rows(y + r0, w.rows, y_tile_, r1 - r0, n, r1 - r0, stream_);
        }
    }
}

void CudaBackend::attention(uint32_t il, int64_t n, uint32_t first_position) {
    const DeviceLayer& d = layers_[il];
    const int64_t D = c_.n_embd, H = c_.n_head, dqk = c_.qk_head_dim, dn = c_.qk_nope_dim, dr = c_.qk_rope_dim, rkv = c_.kv_lora_rank,
                  dv = c_.v_head_dim;
    const void* xq8 = normalise(d.attn_norm, n);
    if (c_.q_compressed()) {
        linear(d.q_a, xn_, n, qa_, xq8);
        ScopedSection section(profiler_, "rms_norm", stream_);
        k::rms_norm(qa_, qa_, d.q_a_norm, c_.q_lora_rank, n, c_.rms_eps, stream_);
    }
    if (c_.q_compressed()) linear(d.q_b, qa_, n, q_);
    else linear(d.q, xn_, n, q_, xq8);
    linear(d.kv_latent, xn_, n, latent_, xq8);
    linear(d.kv_rope, xn_, n, kpe_, xq8);
    {
        ScopedSection section(profiler_, "rms_norm", stream_);
        k::rms_norm(latent_, latent_, d.kv_a_norm, rkv, n, c_.rms_eps, stream_);
    }
    {
        ScopedSection section(profiler_, "rope + cache store", stream_);
        k::rope(kpe_, positions_, n, 1, dr, dr, 0, rope_, stream_);
        k::store_cache_rows(d.cache.data(), cache_type_, row_stride_, options_.n_ctx, latent_, kpe_, static_cast<uint32_t>(rkv),
                            static_cast<uint32_t>(dr), positions_, n, stream_);
        k::rope(q_, positions_, n, H, H * dqk, dqk, dn, rope_, stream_);
    }
    // q_latent[t, h] = W_UK,hᵀ q_nope[t, h]; o[t, h] = W_UV,h o_latent[t, h] (below).
    auto per_head = [&](const void* w, int64_t rows, int64_t cols, const float* x, int64_t x_head, float* y) {
        ScopedSection section(profiler_, "absorb (W_UK, W_UV)", stream_);
        k::HeadMatmul m;
        m.w = w;
        m.type = d.head_type;
        m.n_heads = H, m.rows = rows, m.cols = cols;
        m.x = x, m.x_token_stride = H * x_head, m.x_head_stride = x_head;
        m.y = y, m.y_token_stride = H * rows, m.y_head_stride = rows;
        m.n_tokens = n;
        k::head_matmul(m, stream_);
    };
    per_head(d.wk_t, rkv, dn, q_, dqk, q_latent_);
    k::copy_rows(q_rope_, dr, q_ + dn, dqk, n * H, dr, stream_);
    {
        ScopedSection section(profiler_, n == 1 ? "mla_decode" : "mla_prefill", stream_);
        k::MlaAttentionArgs args = attention_args(static_cast<uint32_t>(n), n == 1 ? options_.n_ctx : first_position + static_cast<uint32_t>(n));
        args.cache = d.cache.data();
        if (n == 1) k::mla_decode(args, decode_plan_, mla_ws_, n_keys_, stream_);
        else k::mla_prefill(args, stream_);
    }
    per_head(d.wv, dv, rkv, o_latent_, rkv, o_);
    linear(d.out, o_, n, tmp_);
    ScopedSection section(profiler_, "residual", stream_);
    k::residual_add(x_, x_, tmp_, static_cast<size_t>(n * D), stream_);
}

// xn_ = RMSNorm(x_) · gain; for a decode-sized batch also its int8 copy (one fused launch), which
// every block-type projection of xn_ then uses instead of quantising it again. Returns that copy
// or null.
const void* CudaBackend::normalise(const float* gain, int64_t n) {
    ScopedSection section(profiler_, "rms_norm", stream_);
    if (n <= k::kMaxBatchTokens && c_.n_embd % 32 == 0) {
        k::rms_norm_q8(norm_q8_, xn_, x_, gain, c_.n_embd, n, c_.rms_eps, stream_);
        return norm_q8_;
    }
    k::rms_norm(xn_, x_, gain, c_.n_embd, n, c_.rms_eps, stream_);
    return nullptr;
}

void CudaBackend::swiglu(const k::QuantMatrix& gate, const k::QuantMatrix& up, const k::QuantMatrix& down, int64_t n, float* out,
                         const void* xq8) {
    linear(gate, xn_, n, gate_, xq8);
    linear(up, xn_, n, up_, xq8);
    {
        ScopedSection section(profiler_, "silu", stream_);
        k::silu_mul(gate_, gate_, up_, static_cast<size_t>(n * gate.rows), stream_);
    }
    linear(down, gate_, n, out);
}

void CudaBackend::feed_forward(uint32_t il, int64_t n) {
    const DeviceLayer& d = layers_[il];
    const int64_t D = c_.n_embd;
    const void* xq8 = normalise(d.ffn_norm, n);
    if (!d.moe_layer) {
        swiglu(d.gate, d.up, d.down, n, tmp_, xq8);
        ScopedSection section(profiler_, "residual", stream_);
        k::residual_add(x_, x_, tmp_, static_cast<size_t>(n * D), stream_);
        return;
    }
    if (!d.experts_on_host) {
        ScopedSection section(profiler_, "moe", stream_);
        k::moe_ffn(routing(), d.moe, xn_, n, x_, x_, moe_ws_, stream_, xq8);
        return;
    }
    // Routed experts in host memory: the CPU computes them while the GPU runs the shared experts.
    const size_t bytes = static_cast<size_t>(n * D) * sizeof(float);
    gpu::copy_to_host(host_in_, xn_, bytes, stream_);
    if (d.moe.gate_shexp.data) swiglu(d.moe.gate_shexp, d.moe.up_shexp, d.moe.down_shexp, n, tmp_, xq8);
    {
        ScopedSection section(profiler_, "experts on the CPU", stream_);
        host_->ffn().moe(model_.weights().layers[il], d.selection_bias_host, host_in_, static_cast<size_t>(n), host_out_, false);
        gpu::copy_to_device(tmp2_, host_out_, bytes, stream_);
    }
    ScopedSection section(profiler_, "residual", stream_);
    if (d.moe.gate_shexp.data) k::residual_add(x_, x_, tmp_, static_cast<size_t>(n * D), stream_);
    k::residual_add(x_, x_, tmp2_, static_cast<size_t>(n * D), stream_);
}

// Embedding, every layer and the logits of `rows` (chunk-relative, ascending) into logits_:
// only launches on stream_, reading the token ids, positions and key count from device memory,
// so a one-token step can be captured.
void CudaBackend::forward(int64_t n, uint32_t first_position, std::span<const uint32_t> rows) {
    uint32_t first_layer = 0;
    if (placement_.layers_on_cpu > 0) {
        first_layer = run_host_layers(n, first_position);
    } else {
        ScopedSection section(profiler_, "embedding", stream_);
        k::embedding_gather(x_, embedding_, embedding_type_, c_.n_embd, c_.n_vocab, ids_, n, stream_);
    }
    for (uint32_t il = first_layer; il < c_.n_layer; ++il) {
        attention(il, n, first_position);
        feed_forward(il, n);
    }
    if (rows.empty()) return;
    const int64_t D = c_.n_embd;
    ScopedSection section(profiler_, "output head", stream_);
    for (size_t r = 0; r < rows.size(); ++r) {
        gpu::copy_on_device(sel_ + static_cast<int64_t>(r) * D, x_ + static_cast<int64_t>(rows[r]) * D, static_cast<size_t>(D) * sizeof(float), stream_);
    }
    k::rms_norm(sel_, sel_, output_norm_, D, static_cast<int64_t>(rows.size()), c_.rms_eps, stream_);
    linear(output_, sel_, static_cast<int64_t>(rows.size()), logits_);
}

// The embedding and the first layers on the CPU (host_), then their residual stream into x_.
// Returns the first layer the GPU runs.
uint32_t CudaBackend::run_host_layers(int64_t n, uint32_t first_position) {
    ScopedSection section(profiler_, "layers on the CPU", stream_);
    // The previous chunk's copy out of host_x_ must be done before it is overwritten.
    gpu::stream_synchronize(stream_);
    host_->embed(host_tokens_, host_x_);
    const cpu::TokenRun run{0, first_position, 0, static_cast<size_t>(n)};
    host_->run_layers(host_x_, std::span<const cpu::TokenRun>(&run, 1));
    gpu::copy_to_device(x_, host_x_.data(), host_x_.size() * sizeof(float), stream_);
    return host_->n_layers();
}

// Captures one decode step (the logits row always computed: a small cost, one graph for all
// steps). A driver that refuses the capture leaves decoding eager, with a warning.
void CudaBackend::capture_decode_graph(uint32_t first) {
    if (graph_.handle) return;
    static constexpr uint32_t kRow0 = 0;
    gpu::graph_begin_capture(stream_);
    try {
        forward(1, first, std::span<const uint32_t>(&kRow0, 1));
        graph_ = gpu::graph_end_capture(stream_);
    } catch (const std::exception& e) {
        try {
            gpu::graph_destroy(gpu::graph_end_capture(stream_));
        } catch (...) {
        }
        graph_ = {};
        graph_failed_ = true;
        spdlog::warn("cuda backend: capturing the decode step as a CUDA graph failed ({}); decoding with eager launches", e.what());
    }
}

// Token ids, positions first … first + n - 1 and the key count into device memory, where every
// kernel (and a replayed graph) reads them.
void CudaBackend::upload_step_inputs(const int32_t* tokens, size_t n, uint32_t first) {
    host_positions_.resize(n);
    for (size_t i = 0; i < n; ++i) host_positions_[i] = static_cast<int32_t>(first + i);
    host_n_keys_ = first + static_cast<uint32_t>(n);
    host_tokens_.assign(tokens, tokens + n);
    gpu::copy_to_device(ids_, tokens, n * sizeof(int32_t), stream_);
    gpu::copy_to_device(positions_, host_positions_.data(), n * sizeof(int32_t), stream_);
    gpu::copy_to_device(n_keys_, &host_n_keys_, sizeof(uint32_t), stream_);
}

bool CudaBackend::can_use_graph() const {
    return options_.gpu_graphs && profiler_ == nullptr && placement_.layers_on_cpu == 0 &&
           std::none_of(layers_.begin(), layers_.end(), [](const DeviceLayer& d) { return d.experts_on_host; });
}

void CudaBackend::evaluate(std::span<const int32_t> tokens, std::span<const uint32_t> logit_rows, float* logits) {
    check_batch(model_, n_cached_, options_.n_ctx, tokens, logit_rows);
    try {
        size_t next_row = 0;
        for (size_t t0 = 0; t0 < tokens.size(); t0 += static_cast<size_t>(max_tokens_)) {
            const size_t n = std::min(tokens.size() - t0, static_cast<size_t>(max_tokens_));
            const uint32_t first = n_cached_ + static_cast<uint32_t>(t0);
            // The rows asked of this chunk, relative to it.
            std::vector<uint32_t> rows;
            while (next_row < logit_rows.size() && logit_rows[next_row] < t0 + n) rows.push_back(logit_rows[next_row++] - static_cast<uint32_t>(t0));
            upload_step_inputs(tokens.data() + t0, n, first);
            if (n == 1 && can_use_graph() && !graph_failed_) capture_decode_graph(first);
            if (n == 1 && graph_.handle && can_use_graph()) {
                gpu::graph_launch(graph_, stream_);
            } else {
                forward(static_cast<int64_t>(n), first, rows);
            }
            if (!rows.empty()) {
                float* dst = logits + (next_row - rows.size()) * c_.n_vocab;
                gpu::copy_to_host(dst, logits_, rows.size() * c_.n_vocab * sizeof(float), stream_);
            }
        }
        gpu::stream_synchronize(stream_);
    } catch (const gpu::DeviceError& e) {
        throw Error(std::string("GPU error: ") + e.what());
    } catch (const std::invalid_argument& e) {
        throw Error(std::string("GPU kernel refused its arguments: ") + e.what());
    }
    commit_batch(tokens.size());
}

std::vector<KernelTiming> CudaBackend::profile_decode_step() {
    if (n_cached_ >= options_.n_ctx) throw Error("profile: the context is full");
    Profiler profiler;
    profiler_ = &profiler;
    struct Reset {
        CudaBackend* self;
        ~Reset() { self->profiler_ = nullptr; }
    } reset{this};
    const uint32_t first = n_cached_;
    const int32_t token = 1 % static_cast<int32_t>(c_.n_vocab);
    upload_step_inputs(&token, 1, first);
    static constexpr uint32_t kRow0 = 0;
    forward(1, first, std::span<const uint32_t>(&kRow0, 1));
    gpu::stream_synchronize(stream_);
    // The step wrote a cache row at n_cached (not committed): the next evaluate overwrites it.
    return profiler.timings();
}

// ---- Profiling ------------------------------------------------------------------------------

Profiler::~Profiler() {
    for (auto& s : spans_) {
        gpu::event_destroy(s.begin);
        gpu::event_destroy(s.end);
    }
}

void Profiler::begin(const char* name, gpu::Stream stream) {
    if (depth_++ > 0) return; // nested sections count towards the outer one
    Span s;
    s.name = name;
    s.begin = gpu::event_create();
    s.end = gpu::event_create();
    gpu::event_record(s.begin, stream);
    spans_.push_back(s);
}

void Profiler::end(gpu::Stream stream) {
    if (--depth_ > 0) return;
    gpu::event_record(spans_.back().end, stream);
}

std::vector<KernelTiming> Profiler::timings() const {
    std::vector<KernelTiming> rows;
    for (const Span& s : spans_) {
        gpu::event_synchronize(s.end);
        const double us = 1000.0 * gpu::event_elapsed_ms(s.begin, s.end);
        auto it = std::find_if(rows.begin(), rows.end(), [&](const KernelTiming& r) { return r.name == s.name; });
        if (it == rows.end()) {
            rows.push_back({s.name, 0, 0});
            it = rows.end() - 1;
        }
        it->launches += 1;
        it->microseconds += us;
    }
    return rows;
}

} // namespace cudab

std::unique_ptr<Backend> create_cuda_backend(const Model& model, const BackendOptions& options, const GpuPlacement& placement) {
    return std::make_unique<cudab::CudaBackend>(model, options, placement);
}

std::vector<KernelTiming> cuda_decode_kernel_times(Backend& backend) {
    auto* cuda = dynamic_cast<cudab::CudaBackend*>(&backend);
    if (cuda == nullptr) throw Error("per-kernel times need a backend of the cuda plugin");
    return cuda->profile_decode_step();
}

double measure_copy_bandwidth_gbs() {
    const size_t bytes = gpu::is_emulated() ? (size_t{16} << 20) : (size_t{512} << 20);
    gpu::Buffer a(bytes), b(bytes);
    gpu::Stream stream = gpu::stream_create();
    gpu::Event start = gpu::event_create(), stop = gpu::event_create();
    gpu::copy_on_device(b.data(), a.data(), bytes, stream); // warm-up
    const int reps = gpu::is_emulated() ? 2 : 10;
    gpu::event_record(start, stream);
    for (int i = 0; i < reps; ++i) gpu::copy_on_device(b.data(), a.data(), bytes, stream);
    gpu::event_record(stop, stream);
    gpu::event_synchronize(stop);
    const double ms = gpu::event_elapsed_ms(start, stop);
    gpu::event_destroy(start);
    gpu::event_destroy(stop);
    gpu::stream_synchronize(stream);
    gpu::stream_destroy(stream);
    // A copy reads and writes every byte.
    return ms > 0 ? 2.0 * static_cast<double>(bytes) * reps / (ms * 1e6) : 0.0;
}

} // namespace latent
