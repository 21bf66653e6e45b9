// Bytes of a text file to UTF-8: a BOM decides (UTF-8, UTF-16 LE/BE); otherwise well-formed
// UTF-8 is taken as it is; otherwise uchardet guesses the charset (Windows-1252 when it cannot)
// and ICU converts. Line ends become "\n". Binary content (NUL bytes without a UTF-16 BOM, many
// control characters) is refused as DocumentError(Skipped, "binary file ...").
#pragma once

#include <string>
#include <string_view>

namespace latent::documents {

struct DecodedText {
    std::string text;     // UTF-8, "\n" line ends, no BOM
    std::string encoding; // "UTF-8", "UTF-16LE", "WINDOWS-1252", ...
};

DecodedText decode_text(std::string_view bytes);

// "\r\n" and lone "\r" to "\n".
std::string normalise_line_ends(std::string_view s);

} // namespace latent::documents
