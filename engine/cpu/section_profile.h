// Where a CPU forward pass spends its time (`latent bench --profile`): named sections of the
// cpu backend record their wall time and the weight bytes they read into the active profile.
// Nothing is recorded (one atomic load per section) unless a profile is active.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdint>
#include <string>
#include <vector>

namespace latent::cpu {

struct SectionTotals {
    std::string name;
    uint64_t calls = 0;
    double microseconds = 0;
    uint64_t bytes = 0; // weight and cache bytes read
};

class SectionProfile {
public:
    // The profile sections record into (null: none). Sections are recorded by the thread that
    // runs the forward pass; activate one profile at a time.
    static void activate(SectionProfile* profile);
    static SectionProfile* active();

    void add(const char* name, double microseconds, uint64_t bytes);
    const std::vector<SectionTotals>& sections() const { return sections_; } // in first-use order

private:
    std::vector<SectionTotals> sections_;
};

// Prints `title`, then one line per section (time, share, bytes and GB/s per `per` units: tokens
// or steps) and the total.
void print_sections(std::FILE* out, const char* title, const SectionProfile& profile, double per);

// Times its scope into the active profile, if any.
class ProfiledSection {
public:
    explicit ProfiledSection(const char* name, uint64_t bytes = 0) : profile_(SectionProfile::active()), name_(name), bytes_(bytes) {
        if (profile_) start_ = std::chrono::steady_clock::now();
    }
    ~ProfiledSection() {
        if (profile_) profile_->add(name_, std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start_).count(), bytes_);
    }
    void add_bytes(uint64_t bytes) { bytes_ += bytes; }
    ProfiledSection(const ProfiledSection&) = delete;
    ProfiledSection& operator=(const ProfiledSection&) = delete;

private:
    SectionProfile* profile_;
    const char* name_;
    uint64_t bytes_;
    std::chrono::steady_clock::time_point start_;
};

} // namespace latent::cpu
