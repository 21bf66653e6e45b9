// DocumentPage in QML: the PDF page the viewer rendered, scaled to the item's width, with the
// passage's boxes painted over it. Draws only what DocumentViewerController holds.
#pragma once

#include <QPointer>
#include <QQuickPaintedItem>
#include <QtQml/qqmlregistration.h>

class DocumentViewerController;

class DocumentPageItem : public QQuickPaintedItem {
    Q_OBJECT
    QML_NAMED_ELEMENT(DocumentPage)
    Q_PROPERTY(DocumentViewerController* viewer READ viewer WRITE setViewer NOTIFY viewerChanged)
public:
    explicit DocumentPageItem(QQuickItem* parent = nullptr);

    DocumentViewerController* viewer() const { return viewer_; }
    void setViewer(DocumentViewerController* viewer);
    void paint(QPainter* painter) override;

signals:
    void viewerChanged();

private:
    QPointer<DocumentViewerController> viewer_;
    QMetaObject::Connection changed_;
};
