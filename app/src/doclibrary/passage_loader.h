// What the document viewer shows for a cited passage, loaded off the GUI thread (the viewer
// controller runs loadPassage on the thread pool): for a PDF the page rendered (QtPdf) with the
// passage's boxes on it; for every other format the document's extracted text (from the index,
// else extracted again from the file) with the passage's range. The file is untrusted and may
// have changed or gone since the answer: every problem becomes a plain message, never a crash.
#pragma once

#include <QImage>
#include <QList>
#include <QRectF>
#include <QString>

struct PassageRequest {
    QString path;        // the document
    int page = 0;        // 1-based PDF page of the passage (0: not a PDF); for PDFs also the page to show
    int sourcePage = 0;  // the passage's own page (highlights appear only there)
    qint64 start = 0;    // code points in the extracted text
    qint64 end = 0;
    QString passage;     // the text as quoted
    QString indexPath;   // documents.db, for the stored text ("" or missing: extract again)
    int renderWidth = 1200; // pixels of a rendered page's width
};

struct PassageView {
    enum class Kind { None, Pdf, Text };
    Kind kind = Kind::None;
    QString message;          // what went wrong, in plain words ("" when all is well)
    // PDF
    int page = 0;             // 1-based page shown
    int pageCount = 0;
    QImage image;             // the page rendered
    QList<QRectF> highlights; // the passage's boxes on it, as fractions of the page (0 … 1)
    // Text (for a long document a window around the passage; textOffset: where it starts)
    QString text;
    qsizetype textOffset = 0;
    qsizetype highlightStart = -1; // UTF-16 range in `text`, -1 when the passage was not found
    qsizetype highlightEnd = -1;
    // `text` as rich text with the range marked: escaped, line ends as <br> and spaces kept, so
    // that positions in the shown document are those of `text`. Built here, off the GUI thread.
    QString html;
};

// Characters of text shown around a passage at most (either side) for a long document: the
// text view lays out what it is given on the GUI thread.
inline constexpr qsizetype kViewerContextChars = 20000;

PassageView loadPassage(const PassageRequest& request);
