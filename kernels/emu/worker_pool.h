// The emulator's settings (from the environment, read once) and the pool of worker threads that
// run the blocks of a launch. Internal to kernels/emu/.
#pragma once

#include "emu/emu_runtime.h"

#include <cstdint>
#include <functional>
#include <string>

namespace latent::emu {

struct Settings {
    unsigned threads = 1;          // LATENT_EMU_THREADS: worker threads (default: the CPU count, up to 16)
    uint64_t seed = 0;             // LATENT_EMU_SEED: schedule seed (default: fresh per process)
    std::size_t stack_bytes = 0;   // LATENT_EMU_STACK_KB: stack of each emulated thread
    unsigned char poison = 0xFF;   // LATENT_EMU_POISON: byte filling new device and shared memory
    unsigned timeout_s = 120;      // LATENT_EMU_TIMEOUT_S: a launch running longer aborts with a report
};
const Settings& settings();

// Runs every block of a launch on the pool and waits. Returns an empty string or the first
// error a block reported (with the seed and how to reproduce it).
std::string run_launch(const LaunchSite& site, const void* kernel_address, dim3 grid, dim3 block,
                       std::size_t shared_bytes, const std::function<void()>& body);

} // namespace latent::emu
