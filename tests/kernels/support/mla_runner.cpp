#include "mla_runner.h"

namespace latent::test {

MlaDeviceCase::MlaDeviceCase(const MlaShape& s, const MlaInputs& in)
    : cache(gpu::upload(in.cache)), q_latent(gpu::upload(in.q_latent)), q_rope(gpu::upload(in.q_rope)),
      out(in.q_latent.size() * sizeof(float)), n_keys(sizeof(uint32_t)) {
    args.q_latent = q_latent.as<float>();
    args.q_rope = q_rope.as<float>();
    args.cache = cache.data();
    args.cache_type = s.cache_type;
    args.row_stride = s.stride();
    args.n_heads = s.n_heads;
    args.latent_dim = s.latent_dim;
    args.rope_dim = s.rope_dim;
    args.n_tokens = s.n_tokens;
    args.n_keys = s.n_keys;
    args.scale = s.scale;
    args.out = out.as<float>();
    poison_output();
}

void MlaDeviceCase::poison_output() { gpu::device_memset(out.data(), 0xFF, out.bytes()); }

std::vector<float> MlaDeviceCase::output() const { return gpu::download<float>(out); }

std::vector<float> run_mla(const MlaShape& shape, const MlaInputs& inputs, MlaMode mode, uint32_t splits) {
    MlaDeviceCase d(shape, inputs);
    if (mode == MlaMode::Prefill) {
        kernels::mla_prefill(d.args);
    } else {
        const kernels::MlaDecodePlan plan = kernels::mla_decode_plan(d.args, 0, splits);
        d.workspace = gpu::Buffer(plan.workspace_bytes);
        if (plan.workspace_bytes) gpu::device_memset(d.workspace.data(), 0xFF, plan.workspace_bytes);
        kernels::mla_decode(d.args, plan, d.workspace.data());
    }
    gpu::device_synchronize();
    return d.output();
}

} // namespace latent::test
