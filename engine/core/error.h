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

namespace latent {

// Thrown when a caller's cancellation request stopped an operation (load, prefill).
class Cancelled : public Error {
public:
    Cancelled() : Error("cancelled") {}
};

} // namespace latent
