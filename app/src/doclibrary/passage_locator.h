// Finding a cited passage again in what the viewer shows. A source keeps the passage's text and
// its range in code points of the document's extracted text; the document may have changed
// since, so the range is checked against the text and the passage searched for when it no
// longer matches. On a PDF page the passage is matched against the page's text layer with runs
// of whitespace counted as one space (extraction collapsed them), and as much of it as the page
// holds is found (a passage may run on to the next page).
#pragma once

#include <QString>
#include <QtGlobal>

struct TextSpan {
    qsizetype start = -1; // UTF-16 index in the text searched
    qsizetype end = -1;   // one past the last
    bool found() const { return start >= 0 && end > start; }
};

// UTF-16 index of code point `codePoint` in `text` (text.size() past its end, -1 for negative).
qsizetype utf16IndexOfCodePoint(const QString& text, qint64 codePoint);

// The passage in `text`: at code points [start, end) when the text there is the passage, else
// its first occurrence (exact, then with whitespace runs equal), else not found.
TextSpan locatePassage(const QString& text, qint64 start, qint64 end, const QString& passage);

// The longest start of `passage` (at least a few words) found on a page whose text layer is
// `pageText`, whitespace runs equal; indexes are the page text's.
TextSpan locateOnPage(const QString& pageText, const QString& passage);
