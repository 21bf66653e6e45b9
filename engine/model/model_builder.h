// Writes random-weight deepseek2 GGUF models of a given shape, for tests and for
// `latent make-model --shape <preset> --type <scheme>`.
//
// A generated file is a complete model as llama.cpp's converter would write it (deepseek2-gguf.md
// §2, §3, §5.1, §6): general.* and deepseek2.* metadata for the chosen file generation (legacy
// attn_kv_b or MLA-format attn_k_b/attn_v_b), every tensor of §3.1 with the real names and dims, a
// synthetic byte-level BPE vocabulary (synthetic_vocab.h) and a chat template of the shape's format.
//
// Weights come from a seeded PRNG (random_weights.h): one stream per tensor, seeded from the
// build seed and the tensor name, so a file is a pure function of (shape, scheme, seed). Matrices
// are ~N(0, 1/ne0) (ne0 is the input width), the token embedding ~N(0, 1), norm gains ~1 ± 0.05,
// the selection bias ~N(0, 0.01²). Tensors of an encodable type with at most
// kEncodeFromFloatsMaxElements elements (every tensor of the tiny presets) are drawn as floats
// and quantised with quantize_row; larger ones, and every type quantize_row cannot encode (Q6_K,
// Q5_0 …), are written as random but valid blocks (finite, sane f16 scales), because quantising
// billions of floats would take many minutes. Data is streamed tensor by tensor
// (gguf::Writer::write_file with a producer), so a 10 GB V2-Lite file never sits in memory: a
// V2-Lite Q4_K_M file (10.4 GB) takes about 6 s of CPU time plus the disk write.
#pragma once

#include "gguf/gguf_writer.h"
#include "model/model_config.h"
#include "tensor/tensor_types.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace latent {

// Conversation format of a generated model: chat template and pre-tokenizer.
enum class ChatStyle {
    DeepSeekV2, // "User: …\n\nAssistant: …<eos>", tokenizer.ggml.pre = "deepseek-llm"
    DeepSeekV3, // "<｜User｜>…<｜Assistant｜>…<eos>", tokenizer.ggml.pre = "deepseek-v3"
};

// Every hyper-parameter of a generated model. Defaults describe the "tiny" preset.
struct ModelShape {
    std::string name = "tiny";       // written as general.name

    // Trunk.
    uint32_t n_layer = 3;            // L
    uint32_t n_embd = 64;            // D
    uint32_t n_head = 4;             // H
    uint32_t n_vocab = 1024;         // V (>= 262: 256 bytes + 6 specials)
    uint32_t n_ctx_train = 163840;   // deepseek2.context_length
    float rms_eps = 1e-6f;

    // Attention.
    uint32_t q_lora_rank = 0;        // r_q; 0 = uncompressed queries (attn_q)
    uint32_t kv_lora_rank = 32;      // r_kv
    uint32_t qk_rope_dim = 16;       // d_r (even)
    uint32_t qk_nope_dim = 16;       // d_n; d_qk = d_n + d_r
    uint32_t v_head_dim = 16;        // d_v
    bool mla_format = true;          // true: attn_k_b/attn_v_b + *_mla keys; false: legacy attn_kv_b

    // Feed-forward.
    uint32_t n_leading_dense = 1;    // L_d
    uint32_t n_ff = 128;             // F
    uint32_t n_ff_expert = 32;       // F_e
    uint32_t n_expert = 8;           // E
    uint32_t n_expert_used = 2;      // K
    uint32_t n_expert_shared = 2;    // S_sh (0: no *_shexp tensors)

    // Routing. write_* = false leaves the key out, as older converters did.
    ExpertGating gating = ExpertGating::Softmax;
    bool write_gating_func = true;
    bool selection_bias = false;     // blk.N.exp_probs_b.bias tensors
    bool expert_weights_norm = false;
    bool write_weights_norm = true;
    float expert_weights_scale = 1.0f;
    uint32_t expert_group_count = 1;
    uint32_t expert_group_used_count = 1;
    bool write_group_keys = true;

    // RoPE.
    float rope_freq_base = 10000.0f;
    bool yarn = true;                // rope.scaling.type "yarn" (false: no scaling keys)
    float rope_scaling_factor = 40.0f;
    uint32_t rope_original_context = 4096;
    float mscale_all_dim = 0.707f;   // stored as yarn_log_multiplier = 0.1·mscale_all_dim

    // Tokenizer and chat.
    ChatStyle chat_style = ChatStyle::DeepSeekV2;
    uint32_t special_tokens_start = 1018; // id of BOS; EOS, User, Assistant, <think>, </think> follow

    uint32_t qk_head_dim() const { return qk_nope_dim + qk_rope_dim; }
};

// Presets: "tiny" (3 layers, D 64, 8 experts; milliseconds to run), "tiny-v3" (query LoRA,
// sigmoid gating with selection bias, 4 expert groups, V3 chat), "tiny-legacy" (attn_kv_b, no
// gating/norm/group keys, as 2024 files), "v2-lite" (the exact DeepSeek-V2-Lite shape, §2.4/§3.2),
// "v3-small" (V3-style routing and attention scaled down to ~1B parameters).
std::optional<ModelShape> model_shape_preset(std::string_view name);
std::vector<std::string_view> model_shape_preset_names();

// Throws latent::Error if the shape cannot describe a valid model (the same rules as
// load_model_config, plus room for the vocabulary's special tokens).
void validate_model_shape(const ModelShape& shape);

// How tensors are stored. Norm gains, routers and selection biases are F32 in every scheme.
enum class WeightScheme {
    F32,
    F32E,   // F32 body, token_embd and output Q8_0 (like the conformance kit's *-f32e files)
    F16,
    BF16,
    Q8_0,
    Q4_0,   // output Q6_K as llama-quantize does
    Q4_K_M, // llama.cpp's Q4_K_M rules of §7.5 (output Q6_K, ffn_down/attn_kv_b Q6_K in the
            // use_more_bits layers, fallbacks Q4_K→Q5_0, Q6_K→Q8_0 when ne0 % 256 ≠ 0)
};
std::optional<WeightScheme> weight_scheme_from_name(std::string_view name); // "f32", "q4_k_m", …
std::string_view weight_scheme_name(WeightScheme scheme);
std::vector<std::string_view> weight_scheme_names();
uint32_t weight_scheme_file_type(WeightScheme scheme); // general.file_type (llama_ftype)

// How a tensor's values are drawn.
enum class WeightInit {
    Matrix,    // N(0, 1/ne0)
    Embedding, // N(0, 1)
    Gain,      // 1 + N(0, 0.05²)
    Bias,      // N(0, 0.01²)
};

// One tensor of a generated model.
struct TensorPlan {
    std::string name;
    TensorType type = TensorType::F32;
    std::vector<uint64_t> ne; // ne[0] fastest
    WeightInit init = WeightInit::Matrix;
};

// The stored type of a tensor under a scheme (name and dims decide, as in llama-quantize).
TensorType scheme_tensor_type(WeightScheme scheme, std::string_view name, const std::vector<uint64_t>& ne,
                              uint32_t n_layer);

// Every tensor of the model in file order: token_embd, blk.0 … blk.L-1, output_norm, output.
std::vector<TensorPlan> plan_model_tensors(const ModelShape& shape, WeightScheme scheme);

// Tensors of at most this many elements are encoded from floats when quantize_row supports the type.
inline constexpr uint64_t kEncodeFromFloatsMaxElements = uint64_t{1} << 18;

struct BuildOptions {
    WeightScheme scheme = WeightScheme::F32;
    uint64_t seed = 1;

    // Test hooks for malformed files. Keys in omit_keys are not written; edit_metadata runs after
    // every key is set (a set_* call replaces a key in place or adds one); edit_tensors may rename,
    // retype, reshape, drop or add tensors before they are declared.
    std::vector<std::string> omit_keys;
    std::function<void(gguf::Writer&)> edit_metadata;
    std::function<void(std::vector<TensorPlan>&)> edit_tensors;

    // Called after each tensor is generated (tools print progress).
    std::function<void(uint64_t bytes_done, uint64_t bytes_total)> progress;
};

// Writes general.*, deepseek2.* and tokenizer.* metadata (honouring omit_keys and edit_metadata).
void write_model_metadata(const ModelShape& shape, const BuildOptions& options, gguf::Writer& writer);

struct BuildResult {
    uint64_t tensor_count = 0;
    uint64_t parameter_count = 0; // elements of all tensors
    uint64_t data_bytes = 0;      // tensor data, without header and padding
};

// Validates the shape and writes the model to `path`. Throws latent::Error.
BuildResult build_model_file(const ModelShape& shape, const BuildOptions& options, const std::filesystem::path& path);

// Fills one planned tensor's data (tensor_row_bytes(type, ne0)·rows bytes at `out`), exactly as
// build_model_file does. Exposed for tests of the random-weight generator.
void generate_tensor_data(const TensorPlan& tensor, uint64_t seed, uint8_t* out);

} // namespace latent
