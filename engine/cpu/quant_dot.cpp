// matmul front end: argument checks, activation quantization, kernel selection, and the split of
// a product into tasks (row chunks x token chunks) for the thread pool. The kernels themselves
// live in quant_dot_portable.cpp, quant_dot_avx2.cpp / quant_dot_avx2_k.cpp, and for batches
// quant_dot_avx512.cpp / quant_dot_avxvnni.cpp (which split their own products, see
// quant_dot_batch.cpp).
#include "cpu/quant_dot.h"

#include "core/error.h"
#include "cpu/quant_dot_batch.h"
#include "cpu/quant_dot_kernels.h"
#include "cpu/thread_pool.h"
#include "gguf/gguf.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace latent::cpu {
namespace {

using detail::ActivationView;
using detail::MatmulKernel;
using detail::prefetch_distance;

// ---- SIMD level -------------------------------------------------------------------------------

// A level no higher than the supported one that this CPU can run: AVX-512 machines need not have
// AVX-VNNI (the 256-bit VEX form), and fall back to AVX2 for it.
SimdLevel clamp_to_cpu(SimdLevel level) {
    level = std::min(level, simd_level_supported());
    if (level == SimdLevel::AvxVnni && !detail::cpu_has_avxvnni()) level = SimdLevel::Avx2;
    return level;
}

SimdLevel initial_simd_level() {
    SimdLevel level = simd_level_supported();
    if (const char* env = std::getenv("LATENT_CPU_SIMD")) {
        const std::string value(env);
        if (value == "off" || value == "portable" || value == "0") level = SimdLevel::Portable;
        if (value == "avx2" && level > SimdLevel::Avx2) level = SimdLevel::Avx2;
        if (value == "avxvnni" && level > SimdLevel::AvxVnni) level = clamp_to_cpu(SimdLevel::AvxVnni);
        if (value == "avx512" && level > SimdLevel::Avx512) level = SimdLevel::Avx512;
    }
    return level;
}

std::atomic<int>& simd_level_state() {
    static std::atomic<int> level{static_cast<int>(initial_simd_level())};
    return level;
}

// ---- checks -----------------------------------------------------------------------------------

std::string type_name(TensorType type) { return std::string(tensor_type_name(type)); }

int64_t resolve_row_end(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const char* what) {
    if (row_end < 0) row_end = w.rows;
    if (row_begin < 0 || row_begin > row_end || row_end > w.rows) {
        throw Error(std::string(what) + ": row range [" + std::to_string(row_begin) + ", " + std::to_string(row_end) +
                    ") is outside the matrix's " + std::to_string(w.rows) + " rows");
    }
    return row_end;
}

void check_weights(const WeightMatrix& w, const char* what) {
    const TensorTypeInfo& info = tensor_type_info(w.type);
    if (w.cols < 0 || w.rows < 0 || w.cols % info.block_size != 0) {
        throw Error(std::string(what) + ": a " + type_name(w.type) + " matrix cannot have " + std::to_string(w.cols) +
                    " columns (block size " + std::to_string(info.block_size) + ")");
    }
    if (w.rows > 0 && w.cols > 0 && (w.data == nullptr || w.row_bytes < tensor_row_bytes(w.type, w.cols))) {
        throw Error(std::string(what) + ": weight matrix has no data or rows of " + std::to_string(w.row_bytes) +
                    " bytes, shorter than " + std::to_string(tensor_row_bytes(w.type, w.cols)));
    }
}

void check_activations(const WeightMatrix& w, const ActivationBuffer& x) {
    if (x.format != activation_format(w.type) || x.cols != w.cols) {
        throw Error("matmul: activations of " + std::to_string(x.cols) + " values (format " +
                    std::to_string(static_cast<int>(x.format)) + ") do not fit a " + type_name(w.type) + " matrix of " +
                    std::to_string(w.cols) + " columns; quantize them for this weight type");
    }
}

MatmulKernel kernel_for(TensorType type) {
    MatmulKernel kernel = nullptr;
    if (simd_level() >= SimdLevel::Avx512Vbmi) kernel = detail::avx512_vbmi_kernel(type);
    if (!kernel && simd_level() >= SimdLevel::Avx512) kernel = detail::avx512_kernel(type);
    if (!kernel && simd_level() >= SimdLevel::Avx2) kernel = detail::avx2_kernel(type);
    if (!kernel) kernel = detail::portable_kernel(type);
    if (!kernel) throw Error("matmul: no CPU kernel for tensor type " + type_name(type));
    return kernel;
}

// ---- the split into tasks ---------------------------------------------------------------------

// A task covers a chunk of rows and a chunk of tokens. One token group (decode): long stretches
// of weights per task, because a jump to a new place costs a cold stream (the prefetch distance
// is not yet covered, new pages); measured on a 2-core VM, 256 KiB tasks read 20-30% faster than
// 64 KiB ones. The tasks then go out in shares (ThreadPool::parallel_for_shares), each thread
// taking consecutive row chunks, so that its stream also runs on from task to task (the
// interleaved hand-out made every task a jump: 8-10% slower decode on the same VM). Batches:
// chunks that stay in L2 while every token group of the task passes over them. Either way at
// least 2 tasks per thread where the matrix allows, so that a thread that runs slow is evened
// out (dynamic hand-out; in shares, the others take the ends of its share).
constexpr size_t kDecodeTaskWeightBytes = 256 * 1024;
constexpr size_t kBatchTaskWeightBytes = 64 * 1024;
constexpr int64_t kTokensPerTask = 64;
constexpr int64_t kTasksPerThread = 2;
// Below this much work (weight bytes x token groups of 4) a product runs on the calling thread:
// waking the pool would cost about as much as it saves.
constexpr int64_t kMinParallelWork = 32 * 1024;

void run_matmul(MatmulKernel kernel, const WeightMatrix& w, const ActivationView& x, float* y, ThreadPool* pool,
                int64_t row_begin, int64_t row_end, bool allow_batch_kernel = true) {
    const int64_t n_rows = row_end - row_begin;
    const int64_t n_tokens = x.n_tokens;
    if (n_rows == 0 || n_tokens == 0) return;
    if (w.cols == 0) {
        for (int64_t t = 0; t < n_tokens; ++t) {
            for (int64_t r = row_begin; r < row_end; ++r) y[t * w.rows + r] = 0.0f;
        }
        return;
    }
    if (n_tokens >= kBatchKernelMinTokens && allow_batch_kernel) {
        const SimdLevel level = simd_level();
        if (x.format == ActivationFormat::F32 && level >= SimdLevel::Avx2) {
            detail::float_batch_matmul(w, x.values, n_tokens, y, w.rows, row_begin, row_end, pool);
            return;
        }
        const detail::batch::BatchKernel* batch_kernel = level >= SimdLevel::Avx512    ? &detail::batch::kAvx512Kernel
                                                         : level == SimdLevel::AvxVnni ? &detail::batch::kAvxVnniKernel
                                                         : level == SimdLevel::Avx2    ? &detail::batch::kAvx2Kernel
                                                                                       : nullptr;
        if (batch_kernel && detail::batch::batch_matmul(*batch_kernel, w, x, y, w.rows, row_begin, row_end, pool)) return;
    }
    const int64_t work = n_rows * static_cast<int64_t>(w.row_bytes) * ((n_tokens + 3) / 4);
    if (work < kMinParallelWork) pool = nullptr;
    const unsigned n_threads = pool ? pool->size() : 1;
    const int64_t tokens_per_task = std::min(n_tokens, kTokensPerTask);
    const int64_t token_chunks = (n_tokens + tokens_per_task - 1) / tokens_per_task;
    const size_t task_bytes = n_tokens <= 4 ? kDecodeTaskWeightBytes : kBatchTaskWeightBytes;
    int64_t rows_per_task = std::max<int64_t>(1, static_cast<int64_t>(task_bytes / std::max<size_t>(1, w.row_bytes)));
    const int64_t wanted_tasks = static_cast<int64_t>(n_threads) * kTasksPerThread;
    if (n_threads > 1 && ((n_rows + rows_per_task - 1) / rows_per_task) * token_chunks < wanted_tasks) {
        const int64_t wanted_row_chunks = (wanted_tasks + token_chunks - 1) / token_chunks;
        rows_per_task = std::max<int64_t>(1, (n_rows + wanted_row_chunks - 1) / wanted_row_chunks);
    }
    const int64_t row_chunks = (n_rows + rows_per_task - 1) / rows_per_task;
    const int64_t n_tasks = row_chunks * token_chunks;

    auto run_task = [&](size_t task, unsigned /*thread*/) {
        // Row chunks vary fastest, so concurrent tasks share a token chunk's activations.
        const int64_t row_chunk = static_cast<int64_t>(task) % row_chunks;
        const int64_t token_chunk = static_cast<int64_t>(task) / row_chunks;
        const int64_t r0 = row_begin + row_chunk * rows_per_task;
        const int64_t r1 = std::min(row_end, r0 + rows_per_task);
        const int64_t t0 = token_chunk * tokens_per_task;
        const int64_t t1 = std::min(n_tokens, t0 + tokens_per_task);
        // The kernels prefetch a fixed distance ahead of where they read; start the stream.
        const uint8_t* first = w.data + r0 * static_cast<int64_t>(w.row_bytes);
        const int64_t lead = std::min<int64_t>(prefetch_distance(), (r1 - r0) * static_cast<int64_t>(w.row_bytes));
        for (int64_t offset = 0; offset < lead; offset += 64) __builtin_prefetch(first + offset);
        kernel(w, x, r0, r1, t0, t1, y, w.rows);
    };
    if (pool && n_tasks > 1) {
        // Forward through one reference so std::function stores the callable without allocating.
        const ThreadPool::TaskFunction fn = [&run_task](size_t task, unsigned thread) { run_task(task, thread); };
        // One token group: the tasks are consecutive row chunks, so each thread's share is one stream.
        if (token_chunks == 1) pool->parallel_for_shares(static_cast<size_t>(n_tasks), fn);
        else pool->parallel_for(static_cast<size_t>(n_tasks), fn);
    } else {
        for (int64_t task = 0; task < n_tasks; ++task) run_task(static_cast<size_t>(task), 0);
    }
}

ActivationView float_view(const float* x, int64_t cols, int64_t n_tokens) {
    ActivationView view;
    view.format = ActivationFormat::F32;
    view.cols = cols;
    view.n_tokens = n_tokens;
    view.values = x;
    return view;
}

bool is_float_type(TensorType type) { return activation_format(type) == ActivationFormat::F32; }

} // namespace

// ---- public API -------------------------------------------------------------------------------

ActivationFormat activation_format(TensorType weight_type) {
    switch (weight_type) {
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16: return ActivationFormat::F32;
    case TensorType::Q4_0:
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::Q8_0:
    case TensorType::IQ4_NL: return ActivationFormat::Q8_32;
    case TensorType::Q2_K:
    case TensorType::Q3_K:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
    case TensorType::Q8_K:
    case TensorType::IQ4_XS: return ActivationFormat::Q8_K;
    default: return ActivationFormat::None;
    }
}

int64_t activation_block_size(ActivationFormat format) {
    switch (format) {
    case ActivationFormat::Q8_32: return 32;
    case ActivationFormat::Q8_K: return 256;
    default: return 1;
    }
}

int64_t activation_sum_group(ActivationFormat format) {
    switch (format) {
    case ActivationFormat::Q8_32: return 32;
    case ActivationFormat::Q8_K: return 16;
    default: return 0;
    }
}

namespace detail {

int prefetch_distance() {
    static const int distance = [] {
        const char* env = std::getenv("LATENT_CPU_PREFETCH");
        return env ? std::max(0, std::atoi(env)) : 8192;
    }();
    return distance;
}

ActivationView view_of(const ActivationBuffer& x) {
    ActivationView view;
    view.format = x.format;
    view.cols = x.cols;
    view.n_tokens = x.n_tokens;
    view.values = x.values.data();
    view.quants = x.quants.data();
    view.scales = x.scales.data();
    view.sums = x.sums.data();
    if (x.format == ActivationFormat::Q8_32 || x.format == ActivationFormat::Q8_K) {
        view.scales_per_token = x.cols / activation_block_size(x.format);
        view.sums_per_token = x.cols / activation_sum_group(x.format);
    }
    return view;
}

} // namespace detail

WeightMatrix weight_matrix(const gguf::TensorInfo& tensor) {
    if (tensor.ne[2] != 1 || tensor.ne[3] != 1) {
        throw Error("tensor " + tensor.name + " " + tensor.shape_string() + " is not a matrix");
    }
    return weight_matrix(tensor, 0);
}

WeightMatrix weight_matrix(const gguf::TensorInfo& tensor, int64_t index) {
    if (tensor.ne[3] != 1) throw Error("tensor " + tensor.name + " " + tensor.shape_string() + " has 4 dimensions");
    if (index < 0 || static_cast<uint64_t>(index) >= tensor.ne[2]) {
        throw Error("tensor " + tensor.name + " " + tensor.shape_string() + " has no matrix " + std::to_string(index));
    }
    if (activation_format(tensor.type) == ActivationFormat::None) {
        throw Error("tensor " + tensor.name + ": no CPU kernel for type " + type_name(tensor.type));
    }
    const TensorTypeInfo& info = tensor_type_info(tensor.type);
    if (tensor.ne[0] % info.block_size != 0 || tensor.ne[0] > static_cast<uint64_t>(INT64_MAX / 4) ||
        tensor.ne[1] > static_cast<uint64_t>(INT64_MAX / 4)) {
        throw Error("tensor " + tensor.name + " " + tensor.shape_string() + " is not a whole number of " +
                    type_name(tensor.type) + " blocks per row");
    }
    WeightMatrix w;
    w.type = tensor.type;
    w.cols = static_cast<int64_t>(tensor.ne[0]);
    w.rows = static_cast<int64_t>(tensor.ne[1]);
    w.row_bytes = tensor_row_bytes(tensor.type, w.cols);
    const uint64_t matrix_bytes = static_cast<uint64_t>(w.row_bytes) * tensor.ne[1];
    if (!tensor.data || matrix_bytes * tensor.ne[2] > tensor.size_bytes) {
        throw Error("tensor " + tensor.name + " " + tensor.shape_string() + " has no data or too little of it");
    }
    w.data = tensor.data + matrix_bytes * static_cast<uint64_t>(index);
    return w;
}

namespace {

// What quantize_activations and quantize_activations_with_remainder write a row with.
struct RowQuantizer {
    ActivationFormat format = ActivationFormat::None;
    int64_t block = 0, scales_per_token = 0, sums_per_token = 0;
    detail::ActivationQuantizer quantize = nullptr;
};

// Checks cols against weight_type's activation blocks and sizes `out` for `rows` rows of cols
// values (quantised, or floats where the type takes them); `what` names the caller in errors.
RowQuantizer prepare_activations(const char* what, TensorType weight_type, int64_t cols, int64_t n_tokens, int64_t rows,
                                 ActivationBuffer& out) {
    RowQuantizer q;
    q.format = activation_format(weight_type);
    if (q.format == ActivationFormat::None) {
        throw Error(std::string(what) + ": no CPU kernel for tensor type " + type_name(weight_type));
    }
    q.block = activation_block_size(q.format);
    if (cols < 0 || n_tokens < 0 || cols % q.block != 0) {
        throw Error(std::string(what) + ": " + std::to_string(cols) + " values per token is not a whole number of " +
                    std::to_string(q.block) + "-value blocks (" + type_name(weight_type) + " weights)");
    }
    out.format = q.format;
    out.cols = cols;
    out.n_tokens = rows;
    const auto count = static_cast<size_t>(cols * rows);
    if (q.format == ActivationFormat::F32) {
        out.values.resize(count);
        return q;
    }
    out.quants.resize(count);
    out.scales.resize(count / static_cast<size_t>(q.block));
    out.sums.resize(count / static_cast<size_t>(activation_sum_group(q.format)));
    q.quantize = simd_level() >= SimdLevel::Avx2 ? detail::quantize_activations_avx2 : detail::quantize_activations_portable;
    q.scales_per_token = cols / q.block;
    q.sums_per_token = cols / activation_sum_group(q.format);
    return q;
}

// run(t0, t1) over [0, n_tokens): in tasks of 16 tokens on the pool, or at once on this thread.
template <class Run>
void over_token_tasks(int64_t n_tokens, ThreadPool* pool, Run&& run) {
    constexpr int64_t kQuantizeTokensPerTask = 16;
    if (pool && n_tokens > kQuantizeTokensPerTask) {
        const int64_t n_tasks = (n_tokens + kQuantizeTokensPerTask - 1) / kQuantizeTokensPerTask;
        auto run_task = [&](size_t task) {
            const int64_t t0 = static_cast<int64_t>(task) * kQuantizeTokensPerTask;
            run(t0, std::min(n_tokens, t0 + kQuantizeTokensPerTask));
        };
        pool->parallel_for(static_cast<size_t>(n_tasks), [&run_task](size_t task, unsigned) { run_task(task); });
    } else {
        run(0, n_tokens);
    }
}

} // namespace

void quantize_activations(TensorType weight_type, const float* x, int64_t cols, int64_t n_tokens,
                          ActivationBuffer& out, ThreadPool* pool) {
    const RowQuantizer q = prepare_activations("quantize_activations", weight_type, cols, n_tokens, n_tokens, out);
    if (q.format == ActivationFormat::F32) {
        const auto count = static_cast<size_t>(cols * n_tokens);
        if (count > 0) std::memcpy(out.values.data(), x, count * sizeof(float));
        return;
    }
    over_token_tasks(n_tokens, pool, [&](int64_t t0, int64_t t1) {
        q.quantize(x + t0 * cols, cols, t1 - t0, q.block, out.quants.data() + t0 * cols, out.scales.data() + t0 * q.scales_per_token,
                   out.sums.data() + t0 * q.sums_per_token);
    });
}

void quantize_activations_with_remainder(TensorType weight_type, const float* x, int64_t cols, int64_t n_tokens, ActivationBuffer& out,
                                         ThreadPool* pool) {
    const char* what = "quantize_activations_with_remainder";
    if (activation_format(weight_type) == ActivationFormat::F32) {
        throw Error(std::string(what) + ": " + type_name(weight_type) + " weights take no quantised activations");
    }
    const RowQuantizer q = prepare_activations(what, weight_type, cols, n_tokens, 2 * n_tokens, out);
    auto quantize_row = [&](const float* row, int64_t slot) {
        q.quantize(row, cols, 1, q.block, out.quants.data() + slot * cols, out.scales.data() + slot * q.scales_per_token,
                   out.sums.data() + slot * q.sums_per_token);
    };
    // Row t: x_t into slot t, then x_t minus what slot t holds into slot n + t, through one row
    // of floats per thread.
    over_token_tasks(n_tokens, pool, [&](int64_t t0, int64_t t1) {
        thread_local std::vector<float> remainder;
        remainder.resize(static_cast<size_t>(cols));
        for (int64_t t = t0; t < t1; ++t) {
            const float* row = x + t * cols;
            quantize_row(row, t);
            dequantize_activations(out, t, remainder.data());
            for (int64_t i = 0; i < cols; ++i) remainder[static_cast<size_t>(i)] = row[i] - remainder[static_cast<size_t>(i)];
            quantize_row(remainder.data(), n_tokens + t);
        }
    });
}

void gather_activations(const ActivationBuffer& src, std::span<const int32_t> tokens, ActivationBuffer& dst) {
    if (&src == &dst) throw Error("gather_activations: source and destination are the same buffer");
    const auto n = static_cast<int64_t>(tokens.size());
    for (const int32_t t : tokens) {
        if (t < 0 || t >= src.n_tokens) {
            throw Error("gather_activations: token " + std::to_string(t) + " of " + std::to_string(src.n_tokens));
        }
    }
    dst.format = src.format;
    dst.cols = src.cols;
    dst.n_tokens = n;
    if (src.format == ActivationFormat::None) return;
    const auto cols = static_cast<size_t>(src.cols);
    if (src.format == ActivationFormat::F32) {
        dst.values.resize(cols * tokens.size());
        for (int64_t i = 0; i < n; ++i) {
            std::memcpy(dst.values.data() + i * src.cols, src.token_values(tokens[i]), cols * sizeof(float));
        }
        return;
    }
    const auto scales_per_token = static_cast<size_t>(src.cols / activation_block_size(src.format));
    const auto sums_per_token = static_cast<size_t>(src.cols / activation_sum_group(src.format));
    dst.quants.resize(cols * tokens.size());
    dst.scales.resize(scales_per_token * tokens.size());
    dst.sums.resize(sums_per_token * tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
        std::memcpy(dst.quants.data() + i * cols, src.token_quants(tokens[i]), cols);
        std::memcpy(dst.scales.data() + i * scales_per_token, src.token_scales(tokens[i]),
                    scales_per_token * sizeof(float));
        std::memcpy(dst.sums.data() + i * sums_per_token, src.token_sums(tokens[i]), sums_per_token * sizeof(int16_t));
    }
}

void dequantize_activations(const ActivationBuffer& x, int64_t token, float* out) {
    if (token < 0 || token >= x.n_tokens) throw Error("dequantize_activations: no token " + std::to_string(token));
    if (x.format == ActivationFormat::F32) {
        std::memcpy(out, x.token_values(token), static_cast<size_t>(x.cols) * sizeof(float));
        return;
    }
    const int64_t block = activation_block_size(x.format);
    const int8_t* q = x.token_quants(token);
    const float* d = x.token_scales(token);
    for (int64_t i = 0; i < x.cols; ++i) out[i] = d[i / block] * static_cast<float>(q[i]);
}

void matmul(const WeightMatrix& w, const ActivationBuffer& x, float* y, ThreadPool* pool, int64_t row_begin,
            int64_t row_end) {
    check_weights(w, "matmul");
    row_end = resolve_row_end(w, row_begin, row_end, "matmul");
    check_activations(w, x);
    run_matmul(kernel_for(w.type), w, detail::view_of(x), y, pool, row_begin, row_end);
}

void matmul_per_row(const WeightMatrix& w, const ActivationBuffer& x, float* y, ThreadPool* pool) {
    check_weights(w, "matmul");
    check_activations(w, x);
    run_matmul(kernel_for(w.type), w, detail::view_of(x), y, pool, 0, w.rows, false);
}

void matmul_many(std::span<const MatmulJob> jobs, ThreadPool* pool) {
    bool small = true;
    uint64_t total_bytes = 0;
    for (const MatmulJob& job : jobs) {
        check_weights(*job.w, "matmul");
        check_activations(*job.w, *job.x);
        small = small && job.x->n_tokens < kBatchKernelMinTokens;
        total_bytes += static_cast<uint64_t>(job.w->rows) * job.w->row_bytes;
    }
    const unsigned n_threads = pool ? pool->size() : 1;
    if (!small || n_threads == 1 || jobs.size() == 1) {
        for (const MatmulJob& job : jobs) run_matmul(kernel_for(job.w->type), *job.w, detail::view_of(*job.x), job.y, pool, 0, job.w->rows);
        return;
    }
    // Long contiguous tasks (as run_matmul's decode tasks), but at least kTasksPerThread per
    // thread over all jobs together.
    const uint64_t task_bytes = std::max<uint64_t>(
        4096, std::min<uint64_t>(kDecodeTaskWeightBytes, total_bytes / (uint64_t{n_threads} * kTasksPerThread)));
    struct Task {
        uint32_t job;
        int64_t r0, r1;
    };
    thread_local std::vector<Task> tasks;
    thread_local std::vector<MatmulKernel> kernels;
    thread_local std::vector<ActivationView> views;
    tasks.clear();
    kernels.clear();
    views.clear();
    for (size_t j = 0; j < jobs.size(); ++j) {
        const WeightMatrix& w = *jobs[j].w;
        kernels.push_back(kernel_for(w.type));
        views.push_back(detail::view_of(*jobs[j].x));
        if (jobs[j].x->n_tokens == 0 || w.rows == 0) continue;
        const int64_t rows_per_task = std::max<int64_t>(1, static_cast<int64_t>(task_bytes / std::max<size_t>(1, w.row_bytes)));
        for (int64_t r0 = 0; r0 < w.rows; r0 += rows_per_task) tasks.push_back({static_cast<uint32_t>(j), r0, std::min(w.rows, r0 + rows_per_task)});
    }
    // The vectors are the calling thread's: hand the workers their data, not the names.
    const Task* task_list = tasks.data();
    const MatmulKernel* kernel_list = kernels.data();
    const ActivationView* view_list = views.data();
    auto run_task = [&jobs, task_list, kernel_list, view_list](size_t index, unsigned) {
        const Task& task = task_list[index];
        const WeightMatrix& w = *jobs[task.job].w;
        const ActivationView& x = view_list[task.job];
        if (w.cols == 0) {
            for (int64_t t = 0; t < x.n_tokens; ++t) {
                for (int64_t r = task.r0; r < task.r1; ++r) jobs[task.job].y[t * w.rows + r] = 0.0f;
            }
            return;
        }
        const uint8_t* first = w.data + task.r0 * static_cast<int64_t>(w.row_bytes);
        const int64_t lead = std::min<int64_t>(prefetch_distance(), (task.r1 - task.r0) * static_cast<int64_t>(w.row_bytes));
        for (int64_t offset = 0; offset < lead; offset += 64) __builtin_prefetch(first + offset);
        kernel_list[task.job](w, x, task.r0, task.r1, 0, x.n_tokens, jobs[task.job].y, w.rows);
    };
    // The tasks are the jobs' row chunks in order: in shares, each thread reads one stream per job.
    pool->parallel_for_shares(tasks.size(), [&run_task](size_t task, unsigned thread) { run_task(task, thread); });
}

void matmul_f32(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool,
                int64_t row_begin, int64_t row_end) {
    check_weights(w, "matmul_f32");
    row_end = resolve_row_end(w, row_begin, row_end, "matmul_f32");
    if (is_float_type(w.type)) {
        run_matmul(kernel_for(w.type), w, float_view(x, w.cols, n_tokens), y, pool, row_begin, row_end);
        return;
    }
    thread_local ActivationBuffer buffer;
    quantize_activations(w.type, x, w.cols, n_tokens, buffer, pool);
    run_matmul(kernel_for(w.type), w, detail::view_of(buffer), y, pool, row_begin, row_end);
}

void matmul_reference(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool,
                      int64_t row_begin, int64_t row_end) {
    check_weights(w, "matmul_reference");
    row_end = resolve_row_end(w, row_begin, row_end, "matmul_reference");
    constexpr int64_t kRowsPerTask = 16;
    const int64_t n_tasks = (row_end - row_begin + kRowsPerTask - 1) / kRowsPerTask;
    auto run_task = [&](size_t task, unsigned) {
        std::vector<float> row(static_cast<size_t>(w.cols));
        const int64_t r0 = row_begin + static_cast<int64_t>(task) * kRowsPerTask;
        for (int64_t r = r0; r < std::min(row_end, r0 + kRowsPerTask); ++r) {
            dequantize_row(w.type, w.data + r * static_cast<int64_t>(w.row_bytes), row.data(), w.cols);
            for (int64_t t = 0; t < n_tokens; ++t) {
                double sum = 0.0;
                for (int64_t i = 0; i < w.cols; ++i) sum += static_cast<double>(row[i]) * x[t * w.cols + i];
                y[t * w.rows + r] = static_cast<float>(sum);
            }
        }
    };
    if (pool) {
        pool->parallel_for(static_cast<size_t>(n_tasks), [&run_task](size_t task, unsigned thread) { run_task(task, thread); });
    } else {
        for (int64_t task = 0; task < n_tasks; ++task) run_task(static_cast<size_t>(task), 0);
    }
}

size_t matmul_weight_bytes(const WeightMatrix& w, int64_t row_begin, int64_t row_end) {
    row_end = resolve_row_end(w, row_begin, row_end, "matmul_weight_bytes");
    return static_cast<size_t>(row_end - row_begin) * tensor_row_bytes(w.type, w.cols);
}

std::string_view simd_level_name(SimdLevel level) {
    switch (level) {
    case SimdLevel::Portable: return "portable";
    case SimdLevel::Avx2: return "avx2";
    case SimdLevel::AvxVnni: return "avxvnni";
    case SimdLevel::Avx512: return "avx512";
    case SimdLevel::Avx512Vbmi: return "avx512vbmi";
    }
    return "unknown";
}

SimdLevel simd_level_supported() {
    if (detail::cpu_has_avx512_vbmi()) return SimdLevel::Avx512Vbmi;
    if (detail::cpu_has_avx512()) return SimdLevel::Avx512;
    if (detail::cpu_has_avxvnni()) return SimdLevel::AvxVnni;
    return detail::cpu_has_avx2() ? SimdLevel::Avx2 : SimdLevel::Portable;
}

SimdLevel simd_level() { return static_cast<SimdLevel>(simd_level_state().load(std::memory_order_relaxed)); }

void set_simd_level(SimdLevel level) {
    level = clamp_to_cpu(level);
    simd_level_state().store(static_cast<int>(level), std::memory_order_relaxed);
}

} // namespace latent::cpu
