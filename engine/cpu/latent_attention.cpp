#include "cpu/latent_attention.h"

#include "core/error.h"
#include "cpu/thread_pool.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LATENT_HAVE_X86 1
#endif

namespace latent::cpu {
namespace {

float cache_element(const LatentCache& c, uint32_t row, uint32_t i) {
    const uint8_t* p = c.rows + static_cast<size_t>(row) * c.row_bytes;
    if (c.type == TensorType::F16) {
        uint16_t h;
        std::memcpy(&h, p + i * 2, 2);
        return fp16_to_fp32(h);
    }
    float f;
    std::memcpy(&f, p + i * 4, 4);
    return f;
}

// acc[h][i] += weights[h * stride] · row[i] for every head: the row is loaded once for all heads.
void accumulate_portable(const LatentCache& c, uint32_t key, const float* weights, size_t stride, uint32_t n_heads, float* acc, std::vector<float>& row) {
    row.resize(c.latent_width);
    if (c.type == TensorType::F16) {
        const uint16_t* src = reinterpret_cast<const uint16_t*>(c.rows + static_cast<size_t>(key) * c.row_bytes);
        for (uint32_t i = 0; i < c.latent_width; ++i) row[i] = fp16_to_fp32(src[i]);
    } else {
        std::memcpy(row.data(), c.rows + static_cast<size_t>(key) * c.row_bytes, c.latent_width * 4);
    }
    for (uint32_t h = 0; h < n_heads; ++h) {
        const float a = weights[h * stride];
        float* dst = acc + static_cast<size_t>(h) * c.latent_width;
        for (uint32_t i = 0; i < c.latent_width; ++i) dst[i] += a * row[i];
    }
}

#ifdef LATENT_HAVE_X86
__attribute__((target("avx2,fma,f16c"))) void accumulate_avx2(const LatentCache& c, uint32_t key, const float* weights, size_t stride, uint32_t n_heads,
                                                               float* acc, std::vector<float>& row) {
    row.resize(c.latent_width);
    const uint8_t* src = c.rows + static_cast<size_t>(key) * c.row_bytes;
    uint32_t i = 0;
    if (c.type == TensorType::F16) {
        for (; i + 8 <= c.latent_width; i += 8) {
            const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i * 2));
            _mm256_storeu_ps(row.data() + i, _mm256_cvtph_ps(h));
        }
        for (; i < c.latent_width; ++i) row[i] = cache_element(c, key, i);
    } else {
        std::memcpy(row.data(), src, c.latent_width * 4);
    }
    for (uint32_t h = 0; h < n_heads; ++h) {
        const __m256 a = _mm256_set1_ps(weights[h * stride]);
        float* dst = acc + static_cast<size_t>(h) * c.latent_width;
        uint32_t j = 0;
        for (; j + 8 <= c.latent_width; j += 8) _mm256_storeu_ps(dst + j, _mm256_fmadd_ps(a, _mm256_loadu_ps(row.data() + j), _mm256_loadu_ps(dst + j)));
        for (; j < c.latent_width; ++j) dst[j] += weights[h * stride] * row[j];
    }
}

bool have_avx2_f16c() {
    static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    return yes;
}
#endif

void accumulate(const LatentCache& c, uint32_t key, const float* weights, size_t stride, uint32_t n_heads, float* acc, std::vector<float>& row) {
#ifdef LATENT_HAVE_X86
    if (have_avx2_f16c()) return accumulate_avx2(c, key, weights, stride, n_heads, acc, row);
#endif
    accumulate_portable(c, key, weights, stride, n_heads, acc, row);
}

} // namespace

void latent_attention(const float* queries, uint32_t n_heads, const LatentCache& cache, uint32_t n_keys, float scale, float* out, ThreadPool* pool,
                      LatentAttentionScratch& s) {
    if (n_keys == 0) throw Error("latent_attention: no keys");
    // Scores: the cache rows are the "weights", the heads' queries the "tokens".
    WeightMatrix keys;
    keys.type = cache.type;
    keys.data = cache.rows;
    keys.cols = cache.row_width;
    keys.rows = n_keys;
    keys.row_bytes = cache.row_bytes;
    quantize_activations(cache.type, queries, cache.row_width, n_heads, s.queries);
    s.scores.resize(static_cast<size_t>(n_heads) * n_keys);
    matmul(keys, s.queries, s.scores.data(), pool);

    // Softmax per head (scores of head h are row h: n_keys floats).
    for (uint32_t h = 0; h < n_heads; ++h) {
        float* row = s.scores.data() + static_cast<size_t>(h) * n_keys;
        float max = -std::numeric_limits<float>::infinity();
        for (uint32_t k = 0; k < n_keys; ++k) {
            row[k] *= scale;
            max = std::max(max, row[k]);
        }
        double sum = 0.0;
        for (uint32_t k = 0; k < n_keys; ++k) {
            row[k] = std::exp(row[k] - max);
            sum += row[k];
        }
        const float inv = static_cast<float>(1.0 / sum);
        for (uint32_t k = 0; k < n_keys; ++k) row[k] *= inv;
    }

    // Weighted sum of latents, keys split across threads; partial sums are then added.
    const size_t out_size = static_cast<size_t>(n_heads) * cache.latent_width;
    const unsigned threads = pool ? pool->size() : 1;
    const uint32_t min_keys_per_chunk = 64;
    const unsigned chunks = std::max(1u, std::min<unsigned>(threads, (n_keys + min_keys_per_chunk - 1) / min_keys_per_chunk));
    if (chunks == 1) {
        std::fill(out, out + out_size, 0.0f);
        for (uint32_t k = 0; k < n_keys; ++k) accumulate(cache, k, s.scores.data() + k, n_keys, n_heads, out, s.row);
        return;
    }
    s.partials.assign(out_size * chunks, 0.0f);
    pool->parallel_for(chunks, [&](size_t chunk, unsigned) {
        thread_local std::vector<float> row;
        const uint32_t begin = static_cast<uint32_t>(static_cast<uint64_t>(n_keys) * chunk / chunks);
        const uint32_t end = static_cast<uint32_t>(static_cast<uint64_t>(n_keys) * (chunk + 1) / chunks);
        float* acc = s.partials.data() + chunk * out_size;
        for (uint32_t k = begin; k < end; ++k) accumulate(cache, k, s.scores.data() + k, n_keys, n_heads, acc, row);
    });
    std::copy_n(s.partials.data(), out_size, out);
    for (unsigned c = 1; c < chunks; ++c) {
        const float* p = s.partials.data() + c * out_size;
        for (size_t i = 0; i < out_size; ++i) out[i] += p[i];
    }
}

void latent_attention_reference(const float* queries, uint32_t n_heads, const LatentCache& cache, uint32_t n_keys, float scale, float* out) {
    for (uint32_t h = 0; h < n_heads; ++h) {
        const float* q = queries + static_cast<size_t>(h) * cache.row_width;
        std::vector<double> scores(n_keys);
        double max = -std::numeric_limits<double>::infinity();
        for (uint32_t k = 0; k < n_keys; ++k) {
            double dot = 0.0;
            for (uint32_t i = 0; i < cache.row_width; ++i) dot += static_cast<double>(q[i]) * cache_element(cache, k, i);
            scores[k] = dot * scale;
            max = std::max(max, scores[k]);
        }
        double sum = 0.0;
        for (double& v : scores) {
            v = std::exp(v - max);
            sum += v;
        }
        for (uint32_t i = 0; i < cache.latent_width; ++i) {
            double acc = 0.0;
            for (uint32_t k = 0; k < n_keys; ++k) acc += scores[k] / sum * cache_element(cache, k, i);
            out[static_cast<size_t>(h) * cache.latent_width + i] = static_cast<float>(acc);
        }
    }
}

} // namespace latent::cpu
