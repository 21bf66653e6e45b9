#include "controllers/document_page_item.h"

#include "controllers/document_viewer_controller.h"

#include <QPainter>

DocumentPageItem::DocumentPageItem(QQuickItem* parent) : QQuickPaintedItem(parent) { setAntialiasing(true); }

void DocumentPageItem::setViewer(DocumentViewerController* viewer) {
    if (viewer == viewer_) return;
    disconnect(changed_);
    viewer_ = viewer;
    if (viewer_) changed_ = connect(viewer_, &DocumentViewerController::contentChanged, this, [this] { update(); });
    update();
    emit viewerChanged();
}

void DocumentPageItem::paint(QPainter* painter) {
    if (!viewer_ || viewer_->pageImage().isNull()) return;
    const QRectF target(0, 0, width(), height());
    painter->setRenderHint(QPainter::SmoothPixmapTransform);
    painter->drawImage(target, viewer_->pageImage());
    painter->setPen(Qt::NoPen);
    painter->setBrush(QColor(255, 214, 0, 110)); // a highlighter over the text, which stays readable
    for (const QVariant& value : viewer_->highlights()) {
        const QVariantMap box = value.toMap();
        painter->drawRect(QRectF(box.value(QStringLiteral("x")).toDouble() * width(), box.value(QStringLiteral("y")).toDouble() * height(),
                                 box.value(QStringLiteral("width")).toDouble() * width(),
                                 box.value(QStringLiteral("height")).toDouble() * height()));
    }
}
