#include "cpu/section_profile.h"

#include <algorithm>
#include <atomic>

namespace latent::cpu {

namespace {
std::atomic<SectionProfile*> g_active{nullptr};
} // namespace

void SectionProfile::activate(SectionProfile* profile) { g_active.store(profile, std::memory_order_release); }

SectionProfile* SectionProfile::active() { return g_active.load(std::memory_order_acquire); }

void SectionProfile::add(const char* name, double microseconds, uint64_t bytes) {
    auto it = std::find_if(sections_.begin(), sections_.end(), [&](const SectionTotals& s) { return s.name == name; });
    if (it == sections_.end()) {
        sections_.push_back({name, 0, 0, 0});
        it = sections_.end() - 1;
    }
    it->calls += 1;
    it->microseconds += microseconds;
    it->bytes += bytes;
}

} // namespace latent::cpu
