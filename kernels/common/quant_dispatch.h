// Runtime QuantType -> compile-time template argument, for host launchers:
//   with_quant_type(type, [&](auto tag) { launch<decltype(tag)::value>(...); });
// An id outside QuantType is the caller's to reject first (is_known_quant_type).
#pragma once

#include "quant_types.h"

#include <type_traits>

namespace latent::kernels {

template <QuantType T>
using QuantTypeTag = std::integral_constant<QuantType, T>;

template <class F>
void with_quant_type(QuantType type, F&& f) {
    switch (type) {
    case QuantType::F32: f(QuantTypeTag<QuantType::F32>{}); return;
    case QuantType::F16: f(QuantTypeTag<QuantType::F16>{}); return;
    case QuantType::BF16: f(QuantTypeTag<QuantType::BF16>{}); return;
    case QuantType::Q4_0: f(QuantTypeTag<QuantType::Q4_0>{}); return;
    case QuantType::Q4_1: f(QuantTypeTag<QuantType::Q4_1>{}); return;
    case QuantType::Q5_0: f(QuantTypeTag<QuantType::Q5_0>{}); return;
    case QuantType::Q5_1: f(QuantTypeTag<QuantType::Q5_1>{}); return;
    case QuantType::Q8_0: f(QuantTypeTag<QuantType::Q8_0>{}); return;
    case QuantType::Q2_K: f(QuantTypeTag<QuantType::Q2_K>{}); return;
    case QuantType::Q3_K: f(QuantTypeTag<QuantType::Q3_K>{}); return;
    case QuantType::Q4_K: f(QuantTypeTag<QuantType::Q4_K>{}); return;
    case QuantType::Q5_K: f(QuantTypeTag<QuantType::Q5_K>{}); return;
    case QuantType::Q6_K: f(QuantTypeTag<QuantType::Q6_K>{}); return;
    case QuantType::IQ4_NL: f(QuantTypeTag<QuantType::IQ4_NL>{}); return;
    case QuantType::IQ4_XS: f(QuantTypeTag<QuantType::IQ4_XS>{}); return;
    }
}

} // namespace latent::kernels
