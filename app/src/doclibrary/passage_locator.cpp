#include "doclibrary/passage_locator.h"

#include <algorithm>
#include <vector>

namespace {

// Shortest start of a passage worth highlighting on a page: fewer characters would match by
// chance.
constexpr qsizetype kMinPageMatch = 12;

// `text` with every whitespace run as one space (none at the ends), and for each of its
// characters the index of the character it came from.
struct Collapsed {
    QString text;
    std::vector<qsizetype> origin;
};

Collapsed collapseWhitespace(const QString& text) {
    Collapsed out;
    out.text.reserve(text.size());
    out.origin.reserve(static_cast<size_t>(text.size()));
    bool pendingSpace = false;
    qsizetype spaceAt = 0;
    for (qsizetype i = 0; i < text.size(); ++i) {
        if (text.at(i).isSpace()) {
            if (!pendingSpace) spaceAt = i;
            pendingSpace = true;
            continue;
        }
        if (pendingSpace && !out.text.isEmpty()) {
            out.text += QLatin1Char(' ');
            out.origin.push_back(spaceAt);
        }
        pendingSpace = false;
        out.text += text.at(i);
        out.origin.push_back(i);
    }
    return out;
}

TextSpan spanFromCollapsed(const Collapsed& haystack, qsizetype at, qsizetype length) {
    if (at < 0 || length <= 0) return {};
    return {haystack.origin[static_cast<size_t>(at)], haystack.origin[static_cast<size_t>(at + length - 1)] + 1};
}

} // namespace

qsizetype utf16IndexOfCodePoint(const QString& text, qint64 codePoint) {
    if (codePoint < 0) return -1;
    qsizetype index = 0;
    for (qint64 seen = 0; seen < codePoint && index < text.size(); ++seen)
        index += (text.at(index).isHighSurrogate() && index + 1 < text.size() && text.at(index + 1).isLowSurrogate()) ? 2 : 1;
    return index;
}

TextSpan locatePassage(const QString& text, qint64 start, qint64 end, const QString& passage) {
    if (passage.isEmpty() || text.isEmpty()) return {};
    const qsizetype from = utf16IndexOfCodePoint(text, start);
    const qsizetype to = utf16IndexOfCodePoint(text, end);
    if (from >= 0 && to > from && QStringView(text).mid(from, to - from) == passage) return {from, to};
    if (const qsizetype at = text.indexOf(passage); at >= 0) return {at, at + passage.size()};
    const Collapsed haystack = collapseWhitespace(text);
    const QString needle = collapseWhitespace(passage).text;
    if (needle.isEmpty()) return {};
    return spanFromCollapsed(haystack, haystack.text.indexOf(needle), needle.size());
}

TextSpan locateOnPage(const QString& pageText, const QString& passage) {
    const Collapsed haystack = collapseWhitespace(pageText);
    const QString needle = collapseWhitespace(passage).text;
    if (needle.isEmpty() || haystack.text.isEmpty()) return {};
    if (const qsizetype at = haystack.text.indexOf(needle); at >= 0) return spanFromCollapsed(haystack, at, needle.size());
    // A prefix found means every shorter one is found too: search the longest by halving.
    qsizetype low = std::min(kMinPageMatch, needle.size());
    if (haystack.text.indexOf(QStringView(needle).left(low)) < 0) return {};
    qsizetype high = needle.size(); // not found
    while (high - low > 1) {
        const qsizetype middle = low + (high - low) / 2;
        if (haystack.text.indexOf(QStringView(needle).left(middle)) >= 0) low = middle;
        else high = middle;
    }
    return spanFromCollapsed(haystack, haystack.text.indexOf(QStringView(needle).left(low)), low);
}
