// Writes a small seed corpus for fuzz_gguf: valid files that exercise every value type, arrays,
// alignment and several tensor types.
#include "gguf/gguf_writer.h"

#include <filesystem>
#include <fstream>
#include <iostream>

using namespace latent;
using namespace latent::gguf;

static void save(const std::filesystem::path& dir, const char* name, const std::vector<uint8_t>& bytes) {
    std::ofstream out(dir / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: make_seeds DIR\n";
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    {
        Writer w;
        w.set_string("general.architecture", "deepseek2");
        w.set_u32("deepseek2.block_count", 2);
        w.set_f32("deepseek2.rope.freq_base", 10000.0f);
        w.set_bool("deepseek2.expert_weights_norm", true);
        w.set_string_array("tokenizer.ggml.tokens", {"a", "b", "ab", "<｜User｜>"});
        w.set_i32_array("tokenizer.ggml.token_type", {1, 1, 1, 3});
        w.set_f32_array("x.floats", {1.0f, 2.0f});
        w.add_tensor("token_embd.weight", TensorType::F32, {4, 2}, std::vector<uint8_t>(32, 0));
        w.add_tensor("blk.0.q.weight", TensorType::Q8_0, {32, 2}, std::vector<uint8_t>(68, 0));
        save(dir, "model.gguf", w.to_bytes());
    }
    {
        Writer w(64);
        w.set_u8("a", 1);
        w.set_i8("b", -1);
        w.set_u16("c", 2);
        w.set_i16("d", -2);
        w.set_u64("e", 3);
        w.set_i64("f", -3);
        w.set_f64("g", 0.5);
        w.add_tensor("q4k", TensorType::Q4_K, {256}, std::vector<uint8_t>(144, 0));
        w.add_tensor("f16", TensorType::F16, {8, 1, 2}, std::vector<uint8_t>(32, 0));
        save(dir, "types.gguf", w.to_bytes());
    }
    {
        Writer w;
        save(dir, "empty.gguf", w.to_bytes());
    }
    return 0;
}
