#include "moe_test_data.h"

#include "quant_test_data.h"

#include <cmath>

namespace latent::test {

kernels::QuantMatrix MoeMatrix::view() const {
    kernels::QuantMatrix m;
    m.type = type;
    m.data = device.data();
    m.rows = rows;
    m.cols = cols;
    return m;
}

namespace {

MoeMatrix make_matrix(kernels::QuantType type, int64_t rows, int64_t cols, int64_t count, Random& random) {
    MoeMatrix m;
    m.type = type;
    m.rows = rows;
    m.cols = cols;
    m.count = count;
    const std::vector<uint8_t> data = random_quant_matrix(type, rows * count, cols, random);
    m.values = dequantize_matrix(type, data, rows * count, cols);
    m.device = gpu::upload(data);
    return m;
}

} // namespace

kernels::MoeWeights MoeLayer::weights() const {
    kernels::MoeWeights w;
    w.router = router.view();
    w.selection_bias = bias.empty() ? nullptr : bias_device.as<float>();
    w.gate_exps = gate.view();
    w.up_exps = up.view();
    w.down_exps = down.view();
    if (shape.n_ff_shared > 0) {
        w.gate_shexp = shared_gate.view();
        w.up_shexp = shared_up.view();
        w.down_shexp = shared_down.view();
    }
    return w;
}

MoeLayer random_moe_layer(const MoeShape& s, Random& random) {
    MoeLayer l;
    l.shape = s;
    const uint32_t e = s.routing.n_expert;
    // Router rows ~ N(0, 1/D) so the logits of unit-scale activations are ~ N(0, 1)... times 2.
    l.router.type = kernels::QuantType::F32;
    l.router.rows = e;
    l.router.cols = s.n_embd;
    l.router.values.resize(static_cast<size_t>(e) * s.n_embd);
    for (float& v : l.router.values) v = static_cast<float>(random.normal() * 2.0 / std::sqrt(static_cast<double>(s.n_embd)));
    l.router.device = gpu::upload(l.router.values);
    l.gate = make_matrix(s.gate_up, s.n_ff, s.n_embd, e, random);
    l.up = make_matrix(s.gate_up, s.n_ff, s.n_embd, e, random);
    l.down = make_matrix(s.down, s.n_embd, s.n_ff, e, random);
    if (s.n_ff_shared > 0) {
        l.shared_gate = make_matrix(s.shared_gate_up, s.n_ff_shared, s.n_embd, 1, random);
        l.shared_up = make_matrix(s.shared_gate_up, s.n_ff_shared, s.n_embd, 1, random);
        l.shared_down = make_matrix(s.shared_down, s.n_embd, s.n_ff_shared, 1, random);
    }
    if (s.bias) {
        for (uint32_t i = 0; i < e; ++i) l.bias.push_back(static_cast<float>(random.normal() * 0.1));
        l.bias_device = gpu::upload(l.bias);
    }
    return l;
}

} // namespace latent::test
