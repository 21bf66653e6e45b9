#include "controllers/document_viewer_controller.h"

#include <QDesktopServices>
#include <QFileInfo>
#include <QUrl>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>

DocumentViewerController::DocumentViewerController(const QString& indexPath, QObject* parent)
    : QObject(parent), indexPath_(indexPath) {
    connect(&watcher_, &QFutureWatcher<PassageView>::finished, this, &DocumentViewerController::onLoaded);
}

DocumentViewerController::~DocumentViewerController() { watcher_.waitForFinished(); }

QString DocumentViewerController::fileName() const { return QFileInfo(request_.path).fileName(); }

QString DocumentViewerController::kind() const {
    switch (view_.kind) {
    case PassageView::Kind::Pdf: return QStringLiteral("pdf");
    case PassageView::Kind::Text: return QStringLiteral("text");
    case PassageView::Kind::None: break;
    }
    return QString();
}

QVariantList DocumentViewerController::highlights() const {
    QVariantList boxes;
    for (const QRectF& box : view_.highlights)
        boxes.append(QVariantMap{{QStringLiteral("x"), box.x()},
                                 {QStringLiteral("y"), box.y()},
                                 {QStringLiteral("width"), box.width()},
                                 {QStringLiteral("height"), box.height()}});
    return boxes;
}

double DocumentViewerController::pageAspect() const {
    return view_.image.isNull() || view_.image.width() == 0 ? 1.414 : double(view_.image.height()) / view_.image.width();
}

QString DocumentViewerController::highlightedHtml() const { return view_.html; }

void DocumentViewerController::setRenderWidth(int pixels) {
    pixels = std::clamp(pixels, 400, 4000);
    if (pixels == renderWidth_) return;
    renderWidth_ = pixels;
    emit renderWidthChanged();
}

void DocumentViewerController::openSource(const QVariantMap& source) {
    PassageRequest request;
    request.path = source.value(QStringLiteral("path")).toString();
    request.page = source.value(QStringLiteral("page")).toInt();
    request.sourcePage = request.page;
    request.start = source.value(QStringLiteral("start")).toLongLong();
    request.end = source.value(QStringLiteral("end")).toLongLong();
    request.passage = source.value(QStringLiteral("text")).toString();
    request.indexPath = indexPath_;
    request.renderWidth = renderWidth_;
    request_ = request;
    view_ = PassageView();
    if (!active_) {
        active_ = true;
        emit activeChanged();
    }
    startLoad();
}

void DocumentViewerController::showPage(int page) {
    if (!active_ || view_.kind != PassageView::Kind::Pdf || page < 1 || page > view_.pageCount || page == request_.page) return;
    request_.page = page;
    request_.renderWidth = renderWidth_;
    startLoad();
}

void DocumentViewerController::close() {
    if (!active_) return;
    active_ = false;
    emit activeChanged();
}

bool DocumentViewerController::openInDefaultApp() {
    if (request_.path.isEmpty()) return false;
    if (!QFileInfo::exists(request_.path)) {
        view_.message = QStringLiteral("%1 is no longer there (moved or deleted).").arg(request_.path);
        emit contentChanged();
        return false;
    }
    if (QDesktopServices::openUrl(QUrl::fromLocalFile(request_.path))) return true;
    view_.message = QStringLiteral("No application could open %1.").arg(fileName());
    emit contentChanged();
    return false;
}

void DocumentViewerController::startLoad() {
    loading_ = true;
    emit contentChanged();
    if (watcher_.isRunning()) {
        reloadWanted_ = true; // the newest request runs once this one ends
        return;
    }
    reloadWanted_ = false;
    watcher_.setFuture(QtConcurrent::run(loadPassage, request_));
}

void DocumentViewerController::onLoaded() {
    if (reloadWanted_) {
        reloadWanted_ = false;
        watcher_.setFuture(QtConcurrent::run(loadPassage, request_));
        return;
    }
    view_ = watcher_.result();
    loading_ = false;
    emit contentChanged();
    emit loaded();
}
