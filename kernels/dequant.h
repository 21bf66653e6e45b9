// Stored weight rows -> f16 / bf16 tiles, the input of the cuBLAS GEMMs of prefill (gemm.h):
// a batch of many tokens is bound by arithmetic, so its weights are expanded once per tile into
// a format tensor cores take and multiplied by cuBLAS, rather than decoded per token.
//
// Every value is decoded exactly as dequantize_row does and then rounded to nearest-even in the
// target format, so the output equals fp32_to_fp16 / fp32_to_bf16 of the engine's decoding.
#pragma once

#include "device.h"
#include "matvec_quant.h"

#include <cstddef>
#include <cstdint>

namespace latent::kernels {

enum class HalfFormat : uint8_t { F16, BF16 };

// out ((row_end - row_begin), w.cols) 16-bit values, row-major, 16-byte aligned = rows
// [row_begin, row_end) of w decoded and rounded to `format`. Same shape rules as matmul_quant.
void dequantize_rows(const QuantMatrix& w, int64_t row_begin, int64_t row_end, HalfFormat format, void* out,
                     gpu::Stream stream = {});

// Bytes a dequantize_rows call reads and writes, for GB/s.
size_t dequantize_rows_bytes(const QuantMatrix& w, int64_t row_begin, int64_t row_end);

} // namespace latent::kernels
