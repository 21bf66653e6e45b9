// Error type of the engine. Everything read from disk is untrusted: a violation becomes a
// latent::Error whose message names the file, field or tensor at fault. Asserts guard only our
// own invariants.
#pragma once

#include <stdexcept>
#include <string>

namespace latent {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

} // namespace latent
