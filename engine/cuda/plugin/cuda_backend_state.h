// The cuda backend's class (cuda_backend.cpp): its device state and the pieces of the forward
// pass. Plugin-internal.
#pragma once

#include "backend/backend_common.h"
#include "cpu/cpu_forward.h"
#include "cuda/plugin/cuda_plugin_parts.h"

#include "device.h"
#include "elementwise.h"
#include "embedding.h"
#include "forward_ops.h"
#include "gemm.h"
#include "matvec_quant.h"
#include "mla_attention.h"
#include "moe.h"
#include "norm_rope.h"

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace latent::cudab {

namespace k = latent::kernels;

k::QuantType quant_type_of(const gguf::TensorInfo& t); // throws Error for a type without kernels
bool is_float_type(k::QuantType t);
// The stored matrix of a 2-D tensor or of one slice of a 3-D one (rows = ne[1]) at `device`.
k::QuantMatrix matrix(const gguf::TensorInfo* t, const void* device);

// Uploads tensors through two pinned staging buffers (copy of one overlaps filling the other),
// each tensor once, reporting progress and honouring cancel after each.
class Uploader {
public:
    static constexpr size_t kStagingBytes = size_t{16} << 20;

    Uploader(std::vector<gpu::Buffer>& store, gpu::Stream stream, uint64_t total_bytes, const std::function<bool(float)>& progress);
    ~Uploader();
    Uploader(const Uploader&) = delete;
    Uploader& operator=(const Uploader&) = delete;

    const void* tensor(const gguf::TensorInfo* t);  // as stored; null for a null tensor
    const float* floats(const gguf::TensorInfo* t); // a 1-D tensor decoded to float32
    void* upload_bytes(const void* host, size_t bytes);
    void report(); // progress; throws Cancelled when the callback says stop

private:
    std::vector<gpu::Buffer>& store_;
    gpu::Stream stream_;
    uint64_t total_;
    uint64_t uploaded_ = 0;
    const std::function<bool(float)>& progress_;
    std::vector<void*> staging_;
    bool pending_[2] = {false, false};
    int next_ = 0;
    std::unordered_map<const gguf::TensorInfo*, const void*> uploaded_tensors_;
};

// Wall time of named sections of one decode step, measured with events (eager launches only).
class Profiler {
public:
    Profiler() = default;
    ~Profiler();
    Profiler(const Profiler&) = delete;
    Profiler& operator=(const Profiler&) = delete;
    void begin(const char* name, gpu::Stream stream);
    void end(gpu::Stream stream);
    std::vector<KernelTiming> timings() const; // per name, in first-launch order

private:
    struct Span {
        std::string name;
        gpu::Event begin, end;
    };
    std::vector<Span> spans_;
    int depth_ = 0;
};

class ScopedSection {
public:
    ScopedSection(Profiler* profiler, const char* name, gpu::Stream stream) : profiler_(profiler), stream_(stream) {
        if (profiler_) profiler_->begin(name, stream_);
    }
    ~ScopedSection() {
        if (profiler_) profiler_->end(stream_);
    }
    ScopedSection(const ScopedSection&) = delete;
    ScopedSection& operator=(const ScopedSection&) = delete;

private:
    Profiler* profiler_;
    gpu::Stream stream_;
};

// One layer's weights and cache on the device.
struct DeviceLayer {
    const float* attn_norm = nullptr;
    const float* ffn_norm = nullptr;
    const float* q_a_norm = nullptr;
    const float* kv_a_norm = nullptr;
    k::QuantMatrix q_a, q_b, q, kv_latent, kv_rope, out;
    const void* wk_t = nullptr; // H × r_kv × d_n (W_UK,hᵀ) in head_type
    const void* wv = nullptr;   // H × d_v × r_kv (W_UV,h)
    k::QuantType head_type = k::QuantType::F16;
    bool on_host = false; // run whole on the CPU (CpuBackend::host_): nothing of it on the device
    bool moe_layer = false;
    bool experts_on_host = false;
    k::QuantMatrix gate, up, down; // dense FFN
    k::MoeWeights moe;             // routed experts empty when experts_on_host
    std::vector<float> selection_bias_host;
    gpu::Buffer cache; // n_ctx rows of [c̃ ‖ RoPE(k_pe)] in f16/bf16
};

class CudaBackend final : public SequenceBackend {
public:
    static constexpr size_t kStageBytes = size_t{32} << 20; // one dequantised weight tile
    static constexpr size_t kTileFloats = size_t{4} << 20;  // one tile's outputs

    CudaBackend(const Model& model, const BackendOptions& options, const GpuPlacement& placement);
    ~CudaBackend() override;

    std::string_view name() const override { return "cuda"; }
    void evaluate(std::span<const int32_t> tokens, std::span<const uint32_t> logit_rows, float* logits) override;

    // Times one decode step at the current position, section by section (not committed).
    std::vector<KernelTiming> profile_decode_step();

private:
    void release() noexcept;
    void upload_weights();
    void allocate_work();
    void* alloc(size_t bytes);
    k::MoeRouting routing() const;
    k::MlaAttentionArgs attention_args(uint32_t n_tokens, uint32_t n_keys) const;
    bool can_use_graph() const;
    void capture_decode_graph(uint32_t first);
    void upload_step_inputs(const int32_t* tokens, size_t n, uint32_t first);
    uint32_t run_host_layers(int64_t n, uint32_t first_position);

    void forward(int64_t n, uint32_t first_position, std::span<const uint32_t> rows);
    void attention(uint32_t il, int64_t n, uint32_t first_position);
    void feed_forward(uint32_t il, int64_t n);
    const void* normalise(const float* gain, int64_t n);
    void swiglu(const k::QuantMatrix& gate, const k::QuantMatrix& up, const k::QuantMatrix& down, int64_t n, float* out,
                const void* xq8 = nullptr);
    // y (n × w.rows) = W x; x_q8: x already quantised per 32 (used for block types, n <= 16).
    void linear(const k::QuantMatrix& w, const float* x, int64_t n, float* y, const void* x_q8 = nullptr);

    GpuPlacement placement_;
    gpu::Stream stream_;
    gpu::Graph graph_;
    bool graph_failed_ = false;
    std::vector<gpu::Buffer> weights_, work_;
    std::vector<DeviceLayer> layers_;
    const void* embedding_ = nullptr;
    uint32_t embedding_type_ = 0;
    const float* output_norm_ = nullptr;
    k::QuantMatrix output_;
    k::QuantType cache_type_ = k::QuantType::F16;
    uint32_t row_stride_ = 0;
    k::RopeParams rope_;
    int64_t max_tokens_ = 1;
    k::MlaDecodePlan decode_plan_;

    // Work buffers (device), sized for max_tokens_.
    float *x_ = nullptr, *xn_ = nullptr, *tmp_ = nullptr, *tmp2_ = nullptr, *qa_ = nullptr, *q_ = nullptr, *latent_ = nullptr,
          *kpe_ = nullptr, *q_latent_ = nullptr, *q_rope_ = nullptr, *o_latent_ = nullptr, *o_ = nullptr, *gate_ = nullptr,
          *up_ = nullptr, *sel_ = nullptr, *logits_ = nullptr, *y_tile_ = nullptr;
    void *q8_ = nullptr, *norm_q8_ = nullptr, *half_x_ = nullptr, *stage_ = nullptr, *moe_ws_ = nullptr, *mla_ws_ = nullptr;
    int32_t *ids_ = nullptr, *positions_ = nullptr;
    uint32_t* n_keys_ = nullptr;
    std::vector<int32_t> host_positions_;
    uint32_t host_n_keys_ = 0;

    // Whole layers and routed experts in host memory: host_ holds the first layers (none when
    // only experts are on the host) and the CPU kernels the experts run on.
    float *host_in_ = nullptr, *host_out_ = nullptr;
    std::unique_ptr<cpu::CpuForward> host_;
    std::vector<int32_t> host_tokens_; // the step's token ids, for the embedding on the CPU
    std::vector<float> host_x_;        // residual stream of the CPU layers

    Profiler* profiler_ = nullptr;
};

} // namespace latent::cudab
