// Reading the document index for chat: the passages a question retrieves from the collections
// a conversation uses. Runs on the inference thread (before the prompt is fitted), never on the
// GUI thread; keeps its own read connection to <data dir>/documents.db, beside the indexing
// thread's (WAL: reads see committed documents while a run goes on).
#pragma once

#include "documents/retriever.h"

#include <QMetaType>
#include <QString>
#include <QStringList>

#include <memory>
#include <vector>

namespace latent::documents {
class Library;
}

// What one question asks of the documents. Empty collections: the question is not grounded.
struct DocumentQuery {
    QString indexPath;       // documents.db
    QStringList collections; // names; those that no longer exist are passed over
    bool active() const { return !indexPath.isEmpty() && !collections.isEmpty(); }
};

class DocumentRetriever {
public:
    static constexpr size_t kPassages = 5; // passages retrieved per question (before fitting)

    DocumentRetriever();
    ~DocumentRetriever();

    // The best passages for `question` in the query's collections, best first. Throws
    // std::exception with a readable message when the index cannot be read; none when no
    // collection of the query exists (any more) or nothing matches.
    std::vector<latent::documents::Passage> search(const DocumentQuery& query, const QString& question);

private:
    QString openPath_;
    std::unique_ptr<latent::documents::Library> library_;
};

Q_DECLARE_METATYPE(DocumentQuery)
Q_DECLARE_METATYPE(std::vector<latent::documents::Passage>)
