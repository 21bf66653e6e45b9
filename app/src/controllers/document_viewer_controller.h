// The in-app viewer of a cited passage (a source chip under an answer opens it): a PDF's page
// rendered with the passage's boxes highlighted (page by page navigation), any other document's
// extracted text scrolled to the passage, highlighted. Loading and rendering run on the thread
// pool (loadPassage); the GUI thread only swaps in the result. A missing or changed file shows a
// plain message (and the passage as quoted), never an error dialog or a crash.
#pragma once

#include "doclibrary/passage_loader.h"

#include <QFutureWatcher>
#include <QImage>
#include <QObject>
#include <QVariantList>
#include <QVariantMap>
#include <QtQml/qqmlregistration.h>

class DocumentViewerController : public QObject {
    Q_OBJECT
    QML_ELEMENT
    QML_UNCREATABLE("owned by AppController")
    Q_PROPERTY(bool active READ active NOTIFY activeChanged)   // the viewer is open
    Q_PROPERTY(bool loading READ loading NOTIFY contentChanged)
    Q_PROPERTY(QString path READ path NOTIFY contentChanged)
    Q_PROPERTY(QString fileName READ fileName NOTIFY contentChanged)
    Q_PROPERTY(QString kind READ kind NOTIFY contentChanged)   // "pdf", "text", "" while nothing is loaded
    Q_PROPERTY(QString message READ message NOTIFY contentChanged) // a problem in plain words, else ""
    // PDF: the page shown (1-based), the page count, the passage's page, its boxes on the page
    // shown as fractions {x, y, width, height}; the page image is drawn by DocumentPage.
    Q_PROPERTY(int page READ page NOTIFY contentChanged)
    Q_PROPERTY(int pageCount READ pageCount NOTIFY contentChanged)
    Q_PROPERTY(int sourcePage READ sourcePage NOTIFY contentChanged)
    Q_PROPERTY(QVariantList highlights READ highlights NOTIFY contentChanged)
    Q_PROPERTY(double pageAspect READ pageAspect NOTIFY contentChanged) // height / width of the page image
    // Text: what is shown (a window of a long document), the passage's UTF-16 range in it (-1
    // when it was not found), and the same text as rich text with the passage marked.
    Q_PROPERTY(QString text READ text NOTIFY contentChanged)
    Q_PROPERTY(int textOffset READ textOffset NOTIFY contentChanged) // characters of the document before `text`
    Q_PROPERTY(int highlightStart READ highlightStart NOTIFY contentChanged)
    Q_PROPERTY(int highlightEnd READ highlightEnd NOTIFY contentChanged)
    Q_PROPERTY(QString highlightedHtml READ highlightedHtml NOTIFY contentChanged)
    // Pixels of a PDF page's width when it is next drawn (the view sets it from its size and the
    // screen's pixel ratio); 1200 until then.
    Q_PROPERTY(int renderWidth READ renderWidth WRITE setRenderWidth NOTIFY renderWidthChanged)
public:
    explicit DocumentViewerController(const QString& indexPath, QObject* parent = nullptr);
    ~DocumentViewerController() override; // waits for a load in progress

    bool active() const { return active_; }
    bool loading() const { return loading_; }
    QString path() const { return request_.path; }
    QString fileName() const;
    QString kind() const;
    QString message() const { return view_.message; }
    int page() const { return view_.page; }
    int pageCount() const { return view_.pageCount; }
    int sourcePage() const { return request_.sourcePage; }
    QVariantList highlights() const;
    double pageAspect() const;
    const QImage& pageImage() const { return view_.image; }
    QString text() const { return view_.text; }
    int textOffset() const { return static_cast<int>(view_.textOffset); }
    int highlightStart() const { return static_cast<int>(view_.highlightStart); }
    int highlightEnd() const { return static_cast<int>(view_.highlightEnd); }
    QString highlightedHtml() const;
    int renderWidth() const { return renderWidth_; }
    void setRenderWidth(int pixels);

    // A source as the message list gives it: {path, page, start, end, text}.
    Q_INVOKABLE void openSource(const QVariantMap& source);
    Q_INVOKABLE void showPage(int page); // PDF: another page of the same document
    Q_INVOKABLE void close();
    // The document in the desktop's default application; false (and a message) when it cannot.
    Q_INVOKABLE bool openInDefaultApp();

signals:
    void activeChanged();
    void contentChanged();
    void renderWidthChanged();
    void loaded(); // a load finished (tests; the view scrolls to the passage)

private:
    void startLoad();
    void onLoaded();

    QString indexPath_;
    bool active_ = false;
    bool loading_ = false;
    bool reloadWanted_ = false; // a request came while a load ran
    int renderWidth_ = 1200;
    PassageRequest request_;
    PassageView view_;
    QFutureWatcher<PassageView> watcher_;
};
