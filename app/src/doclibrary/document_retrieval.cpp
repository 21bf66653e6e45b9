#include "doclibrary/document_retrieval.h"

#include "documents/library.h"

DocumentRetriever::DocumentRetriever() = default;
DocumentRetriever::~DocumentRetriever() = default;

std::vector<latent::documents::Passage> DocumentRetriever::search(const DocumentQuery& query, const QString& question) {
    if (!query.active() || question.trimmed().isEmpty()) return {};
    if (!library_ || openPath_ != query.indexPath) {
        library_.reset();
        // Never created here: a missing index means no collection was ever indexed.
        library_ = std::make_unique<latent::documents::Library>(query.indexPath.toStdString(), false);
        openPath_ = query.indexPath;
    }
    latent::documents::SearchOptions options;
    options.top_k = kPassages;
    for (const QString& name : query.collections)
        if (const auto id = library_->find_collection(name.toStdString())) options.collections.push_back(*id);
    // An empty list would mean every collection: the ones chosen are all gone.
    if (options.collections.empty()) return {};
    return latent::documents::search(*library_, question.toStdString(), options);
}
