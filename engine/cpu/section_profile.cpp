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

void print_sections(std::FILE* out, const char* title, const SectionProfile& profile, double per) {
    if (profile.sections().empty() || per <= 0) return;
    double total = 0;
    for (const SectionTotals& t : profile.sections()) total += t.microseconds;
    std::fprintf(out, "%s\n", title);
    for (const SectionTotals& t : profile.sections()) {
        const double us = t.microseconds / per, mb = static_cast<double>(t.bytes) / per / 1e6;
        std::fprintf(out, "  %-40s %9.1f us  %5.1f%%  %8.2f MB", t.name.c_str(), us, total > 0 ? 100.0 * t.microseconds / total : 0.0, mb);
        if (t.bytes > 0 && us > 0) std::fprintf(out, "  %6.2f GB/s", mb * 1e6 / (us * 1e3));
        std::fprintf(out, "\n");
    }
    std::fprintf(out, "  %-40s %9.1f us\n", "total", total / per);
}

} // namespace latent::cpu
