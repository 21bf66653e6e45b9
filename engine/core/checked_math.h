// Overflow-checked integer arithmetic for sizes and offsets that come from untrusted files.
// Each helper returns false on overflow instead of wrapping.
#pragma once

#include <cstdint>

namespace latent {

inline bool checked_add(uint64_t a, uint64_t b, uint64_t& out) { return !__builtin_add_overflow(a, b, &out); }
inline bool checked_mul(uint64_t a, uint64_t b, uint64_t& out) { return !__builtin_mul_overflow(a, b, &out); }

// Rounds value up to a multiple of alignment (a power of two); false on overflow.
inline bool checked_align_up(uint64_t value, uint64_t alignment, uint64_t& out) {
    uint64_t bumped = 0;
    if (!checked_add(value, alignment - 1, bumped)) return false;
    out = bumped & ~(alignment - 1);
    return true;
}

} // namespace latent
