// The document library's stand-in when `latent` is built without it (LATENT_APP=OFF).
#ifndef LATENT_HAVE_DOCUMENTS
#include "commands.h"
#include "cli_args.h"
#include "docs_support.h"

namespace latent::cli {

bool documents_available() { return false; }

DocsQuestion ground_with_documents(const std::string&, const std::string&, const std::function<size_t(std::string_view)>&, size_t) {
    throw UsageError("--docs needs the document library, which this build of latent leaves out (it comes with the Qt-enabled build, LATENT_APP=ON)");
}

} // namespace latent::cli
#endif
