// `latent info -m MODEL [--json]`: what the model is and what running it costs.
#include "cli_args.h"
#include "commands.h"

#include "core/error.h"
#include "core/json_writer.h"
#include "backend/gpu_placement.h"
#include "cuda/cuda_device.h"
#include "model/model.h"
#include "model/model_info.h"
#include "run_options.h"

#include <cstdio>

namespace latent::cli {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"--model", "-m", true, "GGUF model file (first part of a split model, or any part)"},
    {"--json", "", false, "print one JSON object instead of text"},
    {"--placement", "", false, "say what would run where on the cuda backend (GPU 0) and how much GPU memory it takes"},
    {"--ctx", "-c", true, "with --placement: context length planned for, 1 … 16777216 (default 4096)"},
    {"--cache-type", "", true, "with --placement: f16 (default), bf16 or f32"},
    {"--experts-on-cpu", "", true, "with --placement: force N MoE layers' routed experts (0 … 4096 or all) into host memory"},
    {"--layers-on-cpu", "", true, "with --placement: force the first N layers (0 … 4096) to run whole on the CPU"},
    {"--help", "-h", false, "show this help"},
};

// `--placement`: the device, the decision and each layer's parts.
void print_placement(const Args& args) {
    const auto model = Model::load(args.require("--model"));
    BackendOptions options;
    options.n_ctx = static_cast<uint32_t>(args.get_int("--ctx", 4096, 1, 16777216));
    options.cache_type = cache_type_from(args, KvCacheType::F16);
    apply_gpu_options(args, options);
    const CudaProbe probe = probe_cuda_devices();
    const bool device = !probe.devices.empty();
    const GpuPlacement p = plan_gpu_placement(*model, options, device ? probe.devices.front().free_bytes : 0);
    const ModelConfig& c = model->config();
    auto ffn_place = [&](uint32_t il) -> std::string {
        if (p.layer_on_cpu[il]) return c.layer_is_moe(il) ? "router, routed and shared experts on the CPU" : "dense FFN on the CPU";
        if (!c.layer_is_moe(il)) return "dense FFN on the GPU";
        return p.layer_experts_on_cpu[il] ? "router and routed experts on the CPU, shared experts on the GPU"
                                          : "router, routed and shared experts on the GPU";
    };
    if (args.flag("--json")) {
        JsonWriter j;
        j.begin_object().key("device").value(device ? probe.devices.front().name : std::string());
        if (!device) j.key("device_error").value(probe.error);
        j.key("free_bytes").value(p.free_bytes).key("fits").value(p.fits).key("experts_on_cpu_layers").value(static_cast<uint64_t>(p.experts_on_cpu))
            .key("layers_on_cpu").value(static_cast<uint64_t>(p.layers_on_cpu)).key("host_bytes").value(p.host_bytes())
            .key("moe_layers").value(static_cast<uint64_t>(p.n_moe_layers)).key("gpu_bytes").value(p.device_bytes)
            .key("gpu_weight_bytes").value(p.device_weight_bytes).key("kv_cache_bytes").value(p.plan.kv_cache_bytes)
            .key("work_bytes").value(p.plan.work_bytes).key("host_expert_bytes").value(p.host_expert_bytes).key("summary").value(p.describe());
        j.key("layers").begin_array();
        for (uint32_t il = 0; il < c.n_layer; ++il) {
            const char* ffn = p.layer_on_cpu[il] ? "cpu" : !c.layer_is_moe(il) ? "gpu" : p.layer_experts_on_cpu[il] ? "experts on cpu" : "gpu";
            j.begin_object().key("layer").value(static_cast<uint64_t>(il)).key("attention").value(p.layer_on_cpu[il] ? "cpu" : "gpu")
                .key("ffn").value(ffn).end_object();
        }
        j.end_array().end_object();
        std::printf("%s\n", j.str().c_str());
        return;
    }
    if (device) std::printf("device:   %s, %s free\n", probe.devices.front().name.c_str(), format_memory_size(probe.devices.front().free_bytes).c_str());
    else std::printf("device:   none (%s); the plan below is for a GPU with 0 bytes free\n", probe.error.c_str());
    std::printf("context:  %u tokens, %s cache\n", options.n_ctx, std::string(kv_cache_type_name(options.cache_type)).c_str());
    std::printf("placement: %s\n", p.describe().c_str());
    if (!p.fits) std::printf("          the cuda backend would refuse this model; `auto` runs it on the CPU\n");
    std::printf("token embedding: %s; output head: GPU\n", p.layers_on_cpu > 0 && model->weights().token_embd != model->weights().output ? "CPU" : "GPU");
    for (uint32_t il = 0; il < c.n_layer; ++il) {
        std::printf("layer %3u: attention on the %s, %s\n", il, p.layer_on_cpu[il] ? "CPU (its KV cache in host memory)" : "GPU", ffn_place(il).c_str());
    }
}

std::string human_bytes(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 4) {
        bytes /= 1024.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
    return buf;
}

std::string human_count(uint64_t n) {
    char buf[32];
    if (n >= 1000000000ull) std::snprintf(buf, sizeof buf, "%.2f B", static_cast<double>(n) / 1e9);
    else if (n >= 1000000ull) std::snprintf(buf, sizeof buf, "%.2f M", static_cast<double>(n) / 1e6);
    else if (n >= 1000ull) std::snprintf(buf, sizeof buf, "%.2f K", static_cast<double>(n) / 1e3);
    else std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
    return buf;
}

std::string optional_id(const std::optional<int32_t>& id) { return id ? std::to_string(*id) : std::string("none"); }

void print_text(const ModelInfo& m) {
    const ModelConfig& c = m.config;
    auto line = [](const char* label, const std::string& value) { std::printf("%-18s %s\n", label, value.c_str()); };
    line("file:", m.path.string() + (m.n_files > 1 ? " (" + std::to_string(m.n_files) + " parts)" : "") + ", " + human_bytes(static_cast<double>(m.file_bytes)) +
                      ", GGUF v" + std::to_string(m.gguf_version));
    line("architecture:", c.architecture);
    line("name:", c.name.empty() ? "(none)" : c.name);
    line("quantization:", m.quantization);
    line("parameters:", human_count(m.stats.total_params) + " total, " + human_count(m.stats.active_params) + " active per token");
    line("context length:", std::to_string(c.n_ctx_train) + " tokens (trained)");
    line("layers:", std::to_string(c.n_layer) + " (" + std::to_string(c.n_leading_dense) + " dense + " + std::to_string(c.n_moe_layers()) + " MoE)");
    line("embedding:", std::to_string(c.n_embd) + " wide, vocabulary " + std::to_string(c.n_vocab));
    line("attention:", "MLA, " + std::to_string(c.n_head) + " heads, q " + (c.q_compressed() ? "LoRA rank " + std::to_string(c.q_lora_rank) : std::string("uncompressed")) +
                           ", kv latent " + std::to_string(c.kv_lora_rank) + ", head dims qk " + std::to_string(c.qk_head_dim) + " (nope " + std::to_string(c.qk_nope_dim) +
                           " + rope " + std::to_string(c.qk_rope_dim) + "), v " + std::to_string(c.v_head_dim));
    line("kv tensors:", std::string(kv_format_name(c.kv_format)));
    if (c.n_expert > 0) {
        char scale[32];
        std::snprintf(scale, sizeof scale, "%g", static_cast<double>(c.expert_weights_scale));
        line("experts:", std::to_string(c.n_expert) + " routed (" + std::to_string(c.n_expert_used) + " used per token) + " + std::to_string(c.n_expert_shared) +
                             " shared, " + std::to_string(c.n_ff_expert) + " wide");
        line("routing:", std::string(expert_gating_name(c.gating)) + (c.has_selection_bias ? " + selection bias" : "") + ", groups " +
                             std::to_string(c.expert_group_used_count) + "/" + std::to_string(c.expert_group_count) +
                             ", renormalise " + (c.expert_weights_norm ? "yes" : "no") + ", scale " + scale);
    }
    if (c.n_leading_dense > 0) line("dense ffn:", std::to_string(c.n_ff) + " wide");
    {
        char rope[160];
        if (c.rope_scaling == RopeScaling::Yarn) {
            std::snprintf(rope, sizeof rope, "base %g, YaRN factor %g (original context %u), attention scale %.7f", static_cast<double>(c.rope_freq_base),
                          static_cast<double>(c.rope_scaling_factor), c.rope_original_context, static_cast<double>(c.kq_scale));
        } else {
            std::snprintf(rope, sizeof rope, "base %g, no scaling, attention scale %.7f", static_cast<double>(c.rope_freq_base), static_cast<double>(c.kq_scale));
        }
        line("rope:", rope);
    }
    for (const TypeTotals& t : m.stats.by_type) {
        line("tensor type:", std::string(tensor_type_name(t.type)) + ": " + std::to_string(t.tensors) + " tensors, " + human_count(t.elements) + " params, " +
                                 human_bytes(static_cast<double>(t.bytes)));
    }
    line("tokenizer:", m.tokenizer.model + " BPE, pre-tokenizer " + m.tokenizer.pre + ", " + std::to_string(m.tokenizer.n_tokens) + " tokens, " +
                           std::to_string(m.tokenizer.n_merges) + " merges, bos " + optional_id(m.tokenizer.bos) + ", eos " + optional_id(m.tokenizer.eos) +
                           ", add bos " + (m.tokenizer.add_bos ? "yes" : "no"));
    line("chat format:", chat::describe_chat_format_choice(m.chat_format));
    char kv[200];
    std::snprintf(kv, sizeof kv, "%s per token (MLA latent, f16) vs %s uncompressed: %.1f%% smaller",
                  human_bytes(static_cast<double>(m.kv_cache.mla_bytes_per_token)).c_str(),
                  human_bytes(static_cast<double>(m.kv_cache.mha_bytes_per_token)).c_str(), m.kv_cache.reduction_percent);
    line("kv cache:", kv);
}

void print_json(const ModelInfo& m) {
    const ModelConfig& c = m.config;
    JsonWriter j;
    j.begin_object();
    j.key("file").value(m.path.string());
    j.key("files").value(m.n_files);
    j.key("file_bytes").value(m.file_bytes);
    j.key("gguf_version").value(m.gguf_version);
    j.key("architecture").value(c.architecture);
    j.key("name").value(c.name);
    j.key("quantization").value(m.quantization);
    j.key("parameters").begin_object().key("total").value(m.stats.total_params).key("active_per_token").value(m.stats.active_params).end_object();
    j.key("context_length").value(c.n_ctx_train);
    j.key("n_layer").value(c.n_layer);
    j.key("n_leading_dense").value(c.n_leading_dense);
    j.key("n_embd").value(c.n_embd);
    j.key("n_vocab").value(c.n_vocab);
    j.key("attention").begin_object()
        .key("n_head").value(c.n_head)
        .key("q_lora_rank").value(c.q_lora_rank)
        .key("kv_lora_rank").value(c.kv_lora_rank)
        .key("qk_head_dim").value(c.qk_head_dim)
        .key("qk_nope_dim").value(c.qk_nope_dim)
        .key("qk_rope_dim").value(c.qk_rope_dim)
        .key("v_head_dim").value(c.v_head_dim)
        .key("kv_format").value(c.kv_format == KvFormat::Mla ? "mla" : "legacy")
        .key("kq_scale").value(static_cast<double>(c.kq_scale))
        .end_object();
    j.key("ffn").begin_object()
        .key("n_ff").value(c.n_ff)
        .key("n_ff_expert").value(c.n_ff_expert)
        .key("n_expert").value(c.n_expert)
        .key("n_expert_used").value(c.n_expert_used)
        .key("n_expert_shared").value(c.n_expert_shared)
        .key("gating").value(expert_gating_name(c.gating))
        .key("selection_bias").value(c.has_selection_bias)
        .key("weights_norm").value(c.expert_weights_norm)
        .key("weights_scale").value(static_cast<double>(c.expert_weights_scale))
        .key("group_count").value(c.expert_group_count)
        .key("group_used_count").value(c.expert_group_used_count)
        .end_object();
    j.key("rope").begin_object()
        .key("freq_base").value(static_cast<double>(c.rope_freq_base))
        .key("scaling").value(rope_scaling_name(c.rope_scaling))
        .key("factor").value(static_cast<double>(c.rope_scaling_factor))
        .key("original_context").value(c.rope_original_context)
        .end_object();
    j.key("tensor_types").begin_array();
    for (const TypeTotals& t : m.stats.by_type) {
        j.begin_object().key("type").value(tensor_type_name(t.type)).key("tensors").value(t.tensors).key("elements").value(t.elements).key("bytes").value(t.bytes).end_object();
    }
    j.end_array();
    j.key("tokenizer").begin_object()
        .key("model").value(m.tokenizer.model)
        .key("pre").value(m.tokenizer.pre)
        .key("tokens").value(m.tokenizer.n_tokens)
        .key("merges").value(m.tokenizer.n_merges);
    j.key("bos");
    if (m.tokenizer.bos) j.value(static_cast<int64_t>(*m.tokenizer.bos)); else j.null();
    j.key("eos");
    if (m.tokenizer.eos) j.value(static_cast<int64_t>(*m.tokenizer.eos)); else j.null();
    j.key("add_bos").value(m.tokenizer.add_bos).end_object();
    j.key("chat_format").begin_object()
        .key("name").value(chat::chat_format_name(m.chat_format.format))
        .key("think_prefix").value(m.chat_format.think_prefix)
        .key("reason").value(m.chat_format.reason)
        .end_object();
    j.key("kv_cache_bytes_per_token").begin_object()
        .key("element_bytes").value(2)
        .key("mla").value(m.kv_cache.mla_bytes_per_token)
        .key("uncompressed").value(m.kv_cache.mha_bytes_per_token)
        .key("reduction_percent").value(m.kv_cache.reduction_percent, 6)
        .end_object();
    j.end_object();
    std::printf("%s\n", j.str().c_str());
}

} // namespace

int run_info(const std::vector<std::string>& argv) {
    const Args args = Args::parse("info", kOptions, argv);
    if (args.flag("--help")) {
        std::fputs(usage_text("info", "-m MODEL [--json] [--placement [--ctx N] [--experts-on-cpu N|all] [--layers-on-cpu N]]", kOptions).c_str(), stdout);
        return 0;
    }
    if (!args.positional().empty()) throw Error("unexpected argument '" + args.positional().front() + "'");
    if (args.flag("--placement")) {
        print_placement(args);
        return 0;
    }
    const ModelInfo info = inspect_model(args.require("--model"));
    if (args.flag("--json")) print_json(info);
    else print_text(info);
    return 0;
}

} // namespace latent::cli
