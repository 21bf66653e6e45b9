// The `ref` backend: the forward pass of deepseek2-gguf.md §4 in plain float32 over exactly
// decoded weights, single-threaded, written to be obviously right rather than fast. It is the
// oracle the fast paths are tested against. Weight rows are decoded on the fly (nothing is
// dequantised up front), dot products accumulate in double.
#include "backend/backend.h"
#include "backend/backend_common.h"

#include "core/error.h"
#include "tensor/tensor_types.h"

#include <cmath>
#include <limits>

namespace latent {
namespace {

using Tensor = gguf::TensorInfo;
using Vec = std::vector<float>;

// Row `row` of matrix `matrix` of a 2-D or 3-D weight tensor, decoded to float.
void decode_row(const Tensor& t, uint64_t matrix, uint64_t row, float* out) {
    const size_t row_bytes = tensor_row_bytes(t.type, static_cast<int64_t>(t.ne[0]));
    dequantize_row(t.type, t.data + (matrix * t.ne[1] + row) * row_bytes, out, static_cast<int64_t>(t.ne[0]));
}

Vec decode_vector(const Tensor& t) {
    Vec v(t.ne[0]);
    decode_row(t, 0, 0, v.data());
    return v;
}

// y[t] = W · x[t] for every token t: W is matrix `matrix` of t (ne1 rows of ne0), x holds
// n_tokens rows of ne0 floats, y receives n_tokens rows of ne1 floats.
void matmul(const Tensor& w, uint64_t matrix, const Vec& x, size_t n_tokens, Vec& y) {
    const uint64_t in = w.ne[0], out = w.ne[1];
    y.assign(n_tokens * out, 0.0f);
    Vec row(in);
    for (uint64_t o = 0; o < out; ++o) {
        decode_row(w, matrix, o, row.data());
        for (size_t t = 0; t < n_tokens; ++t) {
            double sum = 0.0;
            for (uint64_t i = 0; i < in; ++i) sum += static_cast<double>(row[i]) * x[t * in + i];
            y[t * out + o] = static_cast<float>(sum);
        }
    }
}

// RMSNorm of each of n rows of `width` values, in place: x·g / sqrt(mean(x²) + ε).
void rms_norm(Vec& x, size_t n, size_t width, const Vec& gain, float eps) {
    for (size_t t = 0; t < n; ++t) {
        float* v = x.data() + t * width;
        double sum = 0.0;
        for (size_t i = 0; i < width; ++i) sum += static_cast<double>(v[i]) * v[i];
        const float scale = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(width)) + eps);
        for (size_t i = 0; i < width; ++i) v[i] = (v[i] * scale) * gain[i];
    }
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

// SwiGLU MLP: down(silu(gate·x) ⊙ up·x) for n tokens, with matrix `matrix` of each tensor.
Vec swiglu(const Tensor& gate, const Tensor& up, const Tensor& down, uint64_t matrix, const Vec& x, size_t n) {
    Vec g, u, y;
    matmul(gate, matrix, x, n, g);
    matmul(up, matrix, x, n, u);
    for (size_t i = 0; i < g.size(); ++i) g[i] = silu(g[i]) * u[i];
    matmul(down, matrix, g, n, y);
    return y;
}

class RefBackend final : public SequenceBackend {
public:
    RefBackend(const Model& model, const BackendOptions& options) : SequenceBackend(model, options) {
        row_width_ = c_.kv_lora_rank + c_.qk_rope_dim;
        cache_.assign(c_.n_layer, Vec(static_cast<size_t>(options.n_ctx) * row_width_, 0.0f));
    }

    std::string_view name() const override { return "ref"; }

    void evaluate(std::span<const int32_t> tokens, std::span<const uint32_t> logit_rows, float* logits) override {
        check_batch(model_, n_cached_, options_.n_ctx, tokens, logit_rows);
        const ModelWeights& w = model_.weights();
        const size_t n = tokens.size(), d = c_.n_embd;

        Vec x(n * d);
        for (size_t t = 0; t < n; ++t) decode_row(*w.token_embd, 0, static_cast<uint64_t>(tokens[t]), x.data() + t * d);

        for (uint32_t il = 0; il < c_.n_layer; ++il) {
            const LayerWeights& lw = w.layers[il];
            Vec xn = x;
            rms_norm(xn, n, d, decode_vector(*lw.attn_norm), c_.rms_eps);
            const Vec attn = attention(il, lw, xn, n);
            for (size_t i = 0; i < x.size(); ++i) x[i] += attn[i];

            xn = x;
            rms_norm(xn, n, d, decode_vector(*lw.ffn_norm), c_.rms_eps);
            const Vec ffn = lw.is_moe ? moe(lw, xn, n) : swiglu(*lw.ffn_gate, *lw.ffn_up, *lw.ffn_down, 0, xn, n);
            for (size_t i = 0; i < x.size(); ++i) x[i] += ffn[i];
        }
        // Final norm and LM head for the rows asked.
        const Vec out_gain = decode_vector(*w.output_norm);
        Vec rows(logit_rows.size() * d);
        for (size_t r = 0; r < logit_rows.size(); ++r) std::copy_n(x.data() + logit_rows[r] * d, d, rows.data() + r * d);
        rms_norm(rows, logit_rows.size(), d, out_gain, c_.rms_eps);
        Vec y;
        matmul(*w.output, 0, rows, logit_rows.size(), y);
        std::copy(y.begin(), y.end(), logits);
        commit_batch(n);
    }

private:
    // Multi-head latent attention for the batch (§4.3, §4.6, §4.7); writes the batch's cache rows.
    Vec attention(uint32_t il, const LayerWeights& lw, const Vec& xn, size_t n) {
        const uint32_t H = c_.n_head, dqk = c_.qk_head_dim, dn = c_.qk_nope_dim, dr = c_.qk_rope_dim, dv = c_.v_head_dim, rkv = c_.kv_lora_rank;

        Vec q;
        if (c_.q_compressed()) {
            Vec qa;
            matmul(*lw.attn_q_a, 0, xn, n, qa);
            rms_norm(qa, n, c_.q_lora_rank, decode_vector(*lw.attn_q_a_norm), c_.rms_eps);
            matmul(*lw.attn_q_b, 0, qa, n, q);
        } else {
            matmul(*lw.attn_q, 0, xn, n, q);
        }
        Vec kv;
        matmul(*lw.attn_kv_a_mqa, 0, xn, n, kv);

        // Cache rows: [RMSNorm(c) ‖ RoPE(k_pe)] at each token's position.
        const Vec kv_gain = decode_vector(*lw.attn_kv_a_norm);
        Vec cos_table(dr / 2), sin_table(dr / 2);
        for (size_t t = 0; t < n; ++t) {
            const uint32_t pos = n_cached_ + static_cast<uint32_t>(t);
            Vec c(kv.begin() + static_cast<std::ptrdiff_t>(t * (rkv + dr)), kv.begin() + static_cast<std::ptrdiff_t>(t * (rkv + dr) + rkv));
            rms_norm(c, 1, rkv, kv_gain, c_.rms_eps);
            float* row = cache_[il].data() + static_cast<size_t>(pos) * row_width_;
            std::copy(c.begin(), c.end(), row);
            std::copy_n(kv.data() + t * (rkv + dr) + rkv, dr, row + rkv);
            rope_angles(c_, pos, cos_table.data(), sin_table.data());
            apply_rope(row + rkv, dr, cos_table.data(), sin_table.data());
            if (options_.cache_type == KvCacheType::F16) {
                for (uint32_t i = 0; i < row_width_; ++i) row[i] = fp16_to_fp32(fp32_to_fp16(row[i]));
            }
            for (uint32_t h = 0; h < H; ++h) apply_rope(q.data() + t * H * dqk + h * dqk + dn, dr, cos_table.data(), sin_table.data());
        }

        // Per-head up-projections from either file layout: wk[h] is d_n × r_kv (W_UK,h),
        // wv[h] is d_v × r_kv (W_UV,h).
        std::vector<Vec> wk(H, Vec(static_cast<size_t>(dn) * rkv)), wv(H, Vec(static_cast<size_t>(dv) * rkv));
        Vec row(rkv > dn ? rkv : dn);
        for (uint32_t h = 0; h < H; ++h) {
            if (lw.attn_kv_b) {
                for (uint32_t i = 0; i < dn; ++i) decode_row(*lw.attn_kv_b, 0, h * (dn + dv) + i, wk[h].data() + i * rkv);
                for (uint32_t j = 0; j < dv; ++j) decode_row(*lw.attn_kv_b, 0, h * (dn + dv) + dn + j, wv[h].data() + j * rkv);
            } else {
                // attn_k_b matrix h: r_kv rows of d_n (W_UKᵀ); attn_v_b matrix h: d_v rows of r_kv.
                for (uint32_t cidx = 0; cidx < rkv; ++cidx) {
                    decode_row(*lw.attn_k_b, h, cidx, row.data());
                    for (uint32_t i = 0; i < dn; ++i) wk[h][i * rkv + cidx] = row[i];
                }
                for (uint32_t j = 0; j < dv; ++j) decode_row(*lw.attn_v_b, h, j, wv[h].data() + j * rkv);
            }
        }

        const bool absorbed = options_.attention == AttentionForm::Absorbed;
        Vec o(n * H * dv, 0.0f);
        for (size_t t = 0; t < n; ++t) {
            const uint32_t pos = n_cached_ + static_cast<uint32_t>(t);
            const size_t n_keys = pos + 1;
            for (uint32_t h = 0; h < H; ++h) {
                const float* qh = q.data() + t * H * dqk + h * dqk; // [nope ‖ rope]
                std::vector<double> scores(n_keys);
                Vec q_latent;
                if (absorbed) {
                    // qA = W_UKᵀ qN: the query in latent space.
                    q_latent.assign(rkv, 0.0f);
                    for (uint32_t cidx = 0; cidx < rkv; ++cidx) {
                        double s = 0.0;
                        for (uint32_t i = 0; i < dn; ++i) s += static_cast<double>(wk[h][i * rkv + cidx]) * qh[i];
                        q_latent[cidx] = static_cast<float>(s);
                    }
                }
                for (size_t s = 0; s < n_keys; ++s) {
                    const float* kr = cache_[il].data() + s * row_width_;
                    double dot = 0.0;
                    if (absorbed) {
                        for (uint32_t cidx = 0; cidx < rkv; ++cidx) dot += static_cast<double>(q_latent[cidx]) * kr[cidx];
                    } else {
                        for (uint32_t i = 0; i < dn; ++i) {
                            double k = 0.0; // kN = W_UK,h · c_s
                            for (uint32_t cidx = 0; cidx < rkv; ++cidx) k += static_cast<double>(wk[h][i * rkv + cidx]) * kr[cidx];
                            dot += static_cast<double>(static_cast<float>(k)) * qh[i];
                        }
                    }
                    for (uint32_t i = 0; i < dr; ++i) dot += static_cast<double>(qh[dn + i]) * kr[rkv + i];
                    scores[s] = dot * c_.kq_scale;
                }
                double max = -std::numeric_limits<double>::infinity();
                for (double s : scores) max = std::max(max, s);
                double sum = 0.0;
                for (double& s : scores) {
                    s = std::exp(s - max);
                    sum += s;
                }
                float* oh = o.data() + t * H * dv + h * dv;
                if (absorbed) {
                    // o_lat = Σ a c_s, then o = W_UV o_lat.
                    std::vector<double> lat(rkv, 0.0);
                    for (size_t s = 0; s < n_keys; ++s) {
                        const float* kr = cache_[il].data() + s * row_width_;
                        for (uint32_t cidx = 0; cidx < rkv; ++cidx) lat[cidx] += scores[s] / sum * kr[cidx];
                    }
                    for (uint32_t j = 0; j < dv; ++j) {
                        double v = 0.0;
                        for (uint32_t cidx = 0; cidx < rkv; ++cidx) v += static_cast<double>(wv[h][j * rkv + cidx]) * lat[cidx];
                        oh[j] = static_cast<float>(v);
                    }
                } else {
                    std::vector<double> acc(dv, 0.0);
                    for (size_t s = 0; s < n_keys; ++s) {
                        const float* kr = cache_[il].data() + s * row_width_;
                        for (uint32_t j = 0; j < dv; ++j) {
                            double v = 0.0; // v = W_UV,h · c_s
                            for (uint32_t cidx = 0; cidx < rkv; ++cidx) v += static_cast<double>(wv[h][j * rkv + cidx]) * kr[cidx];
                            acc[j] += scores[s] / sum * static_cast<double>(static_cast<float>(v));
                        }
                    }
                    for (uint32_t j = 0; j < dv; ++j) oh[j] = static_cast<float>(acc[j]);
                }
            }
        }
        Vec out;
        matmul(*lw.attn_output, 0, o, n, out);
        return out;
    }

    // Mixture of experts with shared experts (§4.10).
    Vec moe(const LayerWeights& lw, const Vec& xn, size_t n) {
        const size_t d = c_.n_embd;
        Vec router;
        matmul(*lw.ffn_gate_inp, 0, xn, n, router);
        const Vec bias = lw.exp_probs_b ? decode_vector(*lw.exp_probs_b) : Vec();
        Vec out(n * d, 0.0f);
        for (size_t t = 0; t < n; ++t) {
            const ExpertChoice choice = route_token(c_, std::span<const float>(router.data() + t * c_.n_expert, c_.n_expert), bias);
            const Vec x1(xn.begin() + static_cast<std::ptrdiff_t>(t * d), xn.begin() + static_cast<std::ptrdiff_t>((t + 1) * d));
            for (size_t k = 0; k < choice.experts.size(); ++k) {
                const Vec y = swiglu(*lw.ffn_gate_exps, *lw.ffn_up_exps, *lw.ffn_down_exps, choice.experts[k], x1, 1);
                for (size_t i = 0; i < d; ++i) out[t * d + i] += choice.weights[k] * y[i];
            }
        }
        if (lw.ffn_gate_shexp) {
            const Vec shared = swiglu(*lw.ffn_gate_shexp, *lw.ffn_up_shexp, *lw.ffn_down_shexp, 0, xn, n);
            for (size_t i = 0; i < out.size(); ++i) out[i] += shared[i];
        }
        return out;
    }

    uint32_t row_width_ = 0;
    std::vector<Vec> cache_; // per layer: n_ctx rows of [c̃ (r_kv) ‖ RoPE(k_pe) (d_r)]
};

} // namespace

std::unique_ptr<Backend> create_ref_backend(const Model& model, const BackendOptions& options) {
    if (options.cache_type == KvCacheType::BF16) throw Error("a bf16 KV cache needs the cuda backend; use --cache-type f16 or f32");
    return std::make_unique<RefBackend>(model, options);
}

} // namespace latent
