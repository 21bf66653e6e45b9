#include "doclibrary/passage_loader.h"

#include "doclibrary/passage_locator.h"
#include "documents/extractors.h"
#include "documents/library.h"

#include <QDateTime>
#include <QFile>
#include <QFileInfo>
#include <QPdfDocument>
#include <QPdfSelection>

#include <algorithm>
#include <cmath>
#include <exception>
#include <string>

namespace {

QString fileName(const QString& path) { return QFileInfo(path).fileName(); }

void buildHtml(PassageView& view) {
    const auto escaped = [](QStringView part) {
        QString html = part.toString().toHtmlEscaped();
        html.replace(QLatin1Char('\n'), QStringLiteral("<br>"));
        return html;
    };
    const QString& text = view.text;
    QString html = QStringLiteral("<div style=\"white-space: pre-wrap;\">");
    if (view.highlightStart >= 0 && view.highlightEnd <= text.size() && view.highlightEnd > view.highlightStart) {
        html += escaped(QStringView(text).left(view.highlightStart));
        html += QStringLiteral("<span style=\"background-color: #ffe066; color: #1a1a1a;\">");
        html += escaped(QStringView(text).mid(view.highlightStart, view.highlightEnd - view.highlightStart));
        html += QStringLiteral("</span>");
        html += escaped(QStringView(text).mid(view.highlightEnd));
    } else {
        html += escaped(text);
    }
    view.html = html + QStringLiteral("</div>");
}

// The passage as it was quoted, all of it highlighted: what is left to show when the file is not.
PassageView quotedOnly(const PassageRequest& request, const QString& message) {
    PassageView view;
    view.kind = PassageView::Kind::Text;
    view.text = request.passage;
    view.highlightStart = 0;
    view.highlightEnd = request.passage.size();
    view.message = message + QStringLiteral(" The passage as it was quoted is shown.");
    buildHtml(view);
    return view;
}

struct IndexedText {
    bool found = false;
    QString text;
    qint64 size = 0;
    qint64 mtimeNs = 0;
};

// The extracted text the index holds for `path` (any collection).
IndexedText indexedText(const QString& indexPath, const QString& path) {
    IndexedText out;
    if (indexPath.isEmpty() || !QFileInfo::exists(indexPath)) return out;
    latent::documents::Library library(QFile::encodeName(indexPath).toStdString(), false);
    latent::documents::Statement statement(library.handle(),
                                           "SELECT text, size, mtime_ns FROM documents WHERE path = ?1 AND status = 'indexed' "
                                           "ORDER BY indexed_at DESC LIMIT 1");
    statement.bind(1, path.toStdString());
    if (!statement.step()) return out;
    out.found = true;
    out.text = QString::fromStdString(statement.text(0));
    out.size = statement.integer(1);
    out.mtimeNs = statement.integer(2);
    return out;
}

// The file extracted again, as the indexer would (same limits); throws DocumentError.
QString extractAgain(const QString& path, const std::string& format) {
    const latent::documents::Limits limits;
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) latent::documents::fail("cannot read: " + file.errorString().toStdString());
    const quint64 cap = format == "pdf" ? limits.max_pdf_bytes : limits.max_file_bytes;
    if (static_cast<quint64>(file.size()) > cap) latent::documents::skip("the file is too large to show");
    const QByteArray bytes = file.readAll();
    const latent::documents::Deadline deadline(limits.max_time_per_file);
    const auto document = latent::documents::extract(QFile::encodeName(path).toStdString(),
                                                     std::string_view(bytes.constData(), static_cast<size_t>(bytes.size())), format,
                                                     limits, deadline);
    return QString::fromStdString(document.text);
}

// A window of a long text around [start, end), never splitting a surrogate pair.
void clipAround(PassageView& view, qsizetype start, qsizetype end) {
    if (view.text.size() <= 2 * kViewerContextChars + (end - start)) return;
    qsizetype from = std::max<qsizetype>(0, start - kViewerContextChars);
    qsizetype to = std::min<qsizetype>(view.text.size(), end + kViewerContextChars);
    if (from > 0 && view.text.at(from).isLowSurrogate()) --from;
    if (to < view.text.size() && view.text.at(to).isLowSurrogate()) ++to;
    view.text = view.text.mid(from, to - from);
    view.textOffset = from;
    if (view.highlightStart >= 0) {
        view.highlightStart -= from;
        view.highlightEnd -= from;
    }
}

PassageView loadText(const PassageRequest& request, const std::string& format) {
    PassageView view;
    view.kind = PassageView::Kind::Text;
    QString note;
    try {
        const IndexedText indexed = indexedText(request.indexPath, request.path);
        if (indexed.found) {
            view.text = indexed.text;
            const QFileInfo info(request.path);
            const qint64 mtimeNs = info.lastModified().toMSecsSinceEpoch() * 1000000;
            // The index keeps nanoseconds; the file system may report fewer digits.
            if (info.size() != indexed.size || std::llabs(mtimeNs - indexed.mtimeNs) >= 1000000)
                note = QStringLiteral("%1 has changed since it was indexed; the text is shown as it was indexed.").arg(fileName(request.path));
        }
    } catch (const std::exception&) {
        view.text.clear(); // the index cannot be read: the file itself is read below
    }
    if (view.text.isEmpty()) {
        if (format.empty()) return quotedOnly(request, QStringLiteral("%1 is not a type of document the app can read.").arg(fileName(request.path)));
        try {
            view.text = extractAgain(request.path, format);
        } catch (const std::exception& e) {
            return quotedOnly(request, QStringLiteral("%1 cannot be read (%2).").arg(fileName(request.path), QString::fromUtf8(e.what())));
        }
    }
    const TextSpan span = locatePassage(view.text, request.start, request.end, request.passage);
    if (span.found()) {
        view.highlightStart = span.start;
        view.highlightEnd = span.end;
        clipAround(view, span.start, span.end);
        view.message = note;
    } else {
        clipAround(view, 0, 0);
        view.message = QStringLiteral("The passage is no longer in %1: the file has changed since this answer.").arg(fileName(request.path));
    }
    buildHtml(view);
    return view;
}

QString pdfProblem(QPdfDocument::Error error) {
    switch (error) {
    case QPdfDocument::Error::IncorrectPassword: return QStringLiteral("it is protected by a password");
    case QPdfDocument::Error::UnsupportedSecurityScheme: return QStringLiteral("it is encrypted");
    case QPdfDocument::Error::FileNotFound: return QStringLiteral("it cannot be opened");
    default: return QStringLiteral("it is damaged or no longer a PDF");
    }
}

PassageView loadPdf(const PassageRequest& request) {
    // The indexer's limits: a file it would not read is not rendered either.
    const latent::documents::Limits limits;
    if (static_cast<quint64>(QFileInfo(request.path).size()) > limits.max_pdf_bytes)
        return quotedOnly(request, QStringLiteral("%1 is too large to show here.").arg(fileName(request.path)));
    QPdfDocument pdf;
    const QPdfDocument::Error error = pdf.load(request.path);
    if (error != QPdfDocument::Error::None)
        return quotedOnly(request, QStringLiteral("%1 cannot be shown: %2.").arg(fileName(request.path), pdfProblem(error)));
    PassageView view;
    view.kind = PassageView::Kind::Pdf;
    view.pageCount = pdf.pageCount();
    if (view.pageCount > static_cast<int>(limits.max_pages))
        return quotedOnly(request, QStringLiteral("%1 has more pages than the app reads.").arg(fileName(request.path)));
    if (view.pageCount <= 0) return quotedOnly(request, QStringLiteral("%1 has no pages any more.").arg(fileName(request.path)));
    view.page = std::clamp(request.page, 1, view.pageCount);
    if (request.page > view.pageCount)
        view.message = QStringLiteral("%1 has only %2 pages now: it has changed since this answer.").arg(fileName(request.path)).arg(view.pageCount);
    const int pageIndex = view.page - 1;
    const QSizeF points = pdf.pagePointSize(pageIndex);
    if (!(points.width() > 0 && points.height() > 0))
        return quotedOnly(request, QStringLiteral("Page %1 of %2 cannot be shown.").arg(view.page).arg(fileName(request.path)));
    const int width = std::clamp(request.renderWidth, 200, 4000);
    const int height = std::clamp(static_cast<int>(std::lround(width * points.height() / points.width())), 1, 4 * width);
    view.image = pdf.render(pageIndex, QSize(width, height));
    if (view.image.isNull()) view.message = QStringLiteral("Page %1 could not be drawn.").arg(view.page);

    if (view.page == request.sourcePage && view.message.isEmpty()) {
        const TextSpan span = locateOnPage(pdf.getAllText(pageIndex).text(), request.passage);
        if (span.found()) {
            const QPdfSelection selection = pdf.getSelectionAtIndex(pageIndex, static_cast<int>(span.start), static_cast<int>(span.end - span.start));
            for (const QPolygonF& polygon : selection.bounds()) {
                const QRectF box = polygon.boundingRect();
                view.highlights.append(QRectF(box.x() / points.width(), box.y() / points.height(), box.width() / points.width(),
                                              box.height() / points.height()));
            }
        }
        if (view.highlights.isEmpty())
            view.message = QStringLiteral("The passage is no longer on this page: %1 has changed since this answer.").arg(fileName(request.path));
    }
    return view;
}

} // namespace

PassageView loadPassage(const PassageRequest& request) {
    const QFileInfo info(request.path);
    if (request.path.isEmpty() || !info.exists())
        return quotedOnly(request, QStringLiteral("%1 is no longer there (moved or deleted).").arg(request.path));
    if (!info.isFile()) return quotedOnly(request, QStringLiteral("%1 is not a file any more.").arg(request.path));
    const std::string format = latent::documents::format_for_path(QFile::encodeName(request.path).toStdString());
    try {
        if (format == "pdf") return loadPdf(request);
        return loadText(request, format);
    } catch (const std::exception& e) {
        return quotedOnly(request, QStringLiteral("%1 cannot be shown (%2).").arg(fileName(request.path), QString::fromUtf8(e.what())));
    }
}
