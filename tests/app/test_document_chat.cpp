// Document Q&A end to end, through the real window (Main.qml over a real AppController, the
// FakeChatEngine recording the prompt it is given): a folder with a generated PDF and a Markdown
// file is indexed, its collection chosen in the chat header's documents menu, a question asked.
// The prompt must quote the passages (as data, numbered), the answer show one chip per source,
// the sources be in latent.db and come back after a restart, and a chip open the viewer at the
// passage: the PDF's page with the passage's line highlighted, the Markdown text with the
// passage's exact range. A file deleted or changed afterwards gives a plain message.
#include "app_window_support.h"
#include "chat_app.h"
#include "corpus.h"
#include "controllers/app_controller.h"
#include "inference/fake_chat_engine.h"
#include "storage/database.h"
#include "storage/storage_thread.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QQuickItem>
#include <QQuickWindow>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QtQml/qqmlextensionplugin.h>

#include <functional>
#include <memory>

Q_IMPORT_QML_PLUGIN(LatentChatPlugin)

using namespace app_test;

namespace {

// The PDF's second page: kPageTwoLines lines in Helvetica 11 pt with 14 pt leading from y = 740
// on a 612 × 792 page (tests/documents/corpus), filler but for the passage's sentence at
// kKestrelLine (0-based). The page's text is longer than one chunk, so the passage is a part of
// it: the lines inside it must be highlighted, the lines outside must not.
constexpr int kKestrelLine = 34;
constexpr int kPageTwoLines = 47;
const char* const kPdfSentence = "The kestrel valve must be closed before cleaning the heater filter.";
const char* const kMarkdownSentence = "The kestrel valve sits behind the left panel of the heater.";
const QString kQuestion = QStringLiteral("Where is the kestrel valve?");

void click(QQuickWindow* window, QQuickItem* item) {
    const QPointF center = item->mapToScene(QPointF(item->width() / 2, item->height() / 2));
    QTest::mouseClick(window, Qt::LeftButton, {}, center.toPoint());
}

bool writeText(const QString& path, const QByteArray& bytes) {
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate)) return false;
    return file.write(bytes) == bytes.size();
}

// Line `i` of the PDF's second page but the passage's: words no question here asks for.
std::string fillerLine(int i) {
    return "Maintenance schedule item " + std::to_string(i + 1) + ": inspect seals, gaskets, hoses and clamps for wear or cracks.";
}

// The vertical middle of line `i` of a page, as a fraction of the page from the top.
double lineMiddleFromTop(int i) { return (792.0 - (740.0 - 14.0 * i) - 4.0) / 792.0; }

// The chip whose label contains `text`, or null.
QQuickItem* chipFor(QQuickWindow* window, const QString& text) {
    for (QQuickItem* chip : findItems(window->contentItem(), QStringLiteral("sourceChip"))) {
        const auto* label = chip->property("contentItem").value<QQuickItem*>();
        if (label && label->property("text").toString().contains(text)) return chip;
    }
    return nullptr;
}

} // namespace

class DocumentChatTest : public QObject {
    Q_OBJECT
private slots:
    void init();
    void askFromCollectionShowsSourcesThatOpenAtThePassage();
    void missingOrChangedFileGivesAPlainMessage();
    void collectionsBelongToTheirConversation();
    void textViewerScrollsToAPassageDeepInADocument();

private:
    // Indexes folder_ into the app's default collection; false when the run fails.
    bool indexFolder(AppController& app);
    // Clicks a chip and waits for the viewer to load it.
    bool openChip(QQuickWindow* window, AppController& app, const QString& label);

    std::unique_ptr<QTemporaryDir> dir_;
    QString folder_;
    QString pdfPath_;
    QString markdownPath_;
};

void DocumentChatTest::init() {
    dir_ = std::make_unique<QTemporaryDir>();
    QVERIFY(dir_->isValid());
    folder_ = dir_->filePath(QStringLiteral("docs"));
    QVERIFY(QDir().mkpath(folder_));
    pdfPath_ = QDir(folder_).filePath(QStringLiteral("manual.pdf"));
    markdownPath_ = QDir(folder_).filePath(QStringLiteral("notes.md"));
    std::vector<std::string> pageTwo;
    for (int i = 0; i < kPageTwoLines; ++i)
        pageTwo.push_back(i == kKestrelLine ? std::string(kPdfSentence) : fillerLine(i));
    latent::test::write_bytes(pdfPath_.toStdString(),
                              latent::test::make_pdf({{"Heater manual.", "Chapter one: installation."}, pageTwo}));
    QVERIFY(writeText(markdownPath_, QByteArray("# Notes\n\nUnrelated words about lunch.\n\n") + kMarkdownSentence + "\n"));
}

bool DocumentChatTest::indexFolder(AppController& app) {
    QSignalSpy finished(app.documents(), &DocumentsController::indexingFinished);
    app.documents()->addFolder(QUrl::fromLocalFile(folder_));
    if (!finished.wait(60000)) return false;
    const IndexSummary summary = finished.takeFirst().at(0).value<IndexSummary>();
    if (summary.indexed != 2) qWarning("indexed %d files: %s", summary.indexed, qPrintable(summary.error));
    return summary.indexed == 2 && QTest::qWaitFor([&] { return app.documents()->collections()->rowCount() == 1; }, 5000);
}

bool DocumentChatTest::openChip(QQuickWindow* window, AppController& app, const QString& label) {
    QQuickItem* chip = nullptr;
    if (!QTest::qWaitFor([&] { return (chip = chipFor(window, label)) != nullptr; }, 5000)) return false;
    QSignalSpy loaded(app.viewer(), &DocumentViewerController::loaded);
    click(window, chip);
    return (loaded.count() > 0 || loaded.wait(10000)) && app.viewer()->active() && !app.viewer()->loading();
}

void DocumentChatTest::askFromCollectionShowsSourcesThatOpenAtThePassage() {
    QTemporaryDir data;
    QVERIFY(data.isValid());
    QTemporaryDir models;
    FakeChatEngine::Script script;
    script.reply = QStringLiteral("Behind the left panel [2]; close it before cleaning [1].");
    auto engine = std::make_unique<FakeChatEngine>(script);
    FakeChatEngine* fake = engine.get();
    QList<SourceRecord> shownSources;
    qint64 conversationId = 0;
    {
        AppController app(data.path(), std::move(engine));
        LoadedUi ui;
        QVERIFY(showWithModel(app, ui, makeModelFile(models)));
        QVERIFY(indexFolder(app));

        // The chat header's documents menu: the collection, chosen with a click.
        QQuickItem* button = findItems(ui.window->contentItem(), QStringLiteral("collectionsButton")).value(0);
        QVERIFY(button);
        click(ui.window, button);
        const QString itemName = QStringLiteral("collectionItem_") + QString::fromLatin1(DocumentsController::kDefaultCollection);
        QTRY_VERIFY_WITH_TIMEOUT(!findItems(ui.window->contentItem(), itemName).isEmpty(), 5000);
        QTest::qWait(300); // the menu's opening transition
        click(ui.window, findItems(ui.window->contentItem(), itemName).first());
        QTRY_COMPARE(app.chat()->collections(), QStringList{QString::fromLatin1(DocumentsController::kDefaultCollection)});

        // Asked as a user asks: Ctrl+L to the composer, typed, Enter.
        QTest::keyClick(ui.window, Qt::Key_L, Qt::ControlModifier);
        QTRY_COMPARE(ui.window->activeFocusItem() ? ui.window->activeFocusItem()->objectName() : QString(), QStringLiteral("composerInput"));
        typeText(ui.window, kQuestion);
        QElapsedTimer answering;
        answering.start();
        QTest::keyClick(ui.window, Qt::Key_Return);
        QTRY_VERIFY_WITH_TIMEOUT(!app.chat()->messages()->rows().back().sources.isEmpty(), 10000);
        qInfo("sources shown %lld ms after sending (search and fitting on the inference thread)", answering.elapsed());
        QTRY_VERIFY_WITH_TIMEOUT(!app.chat()->generating(), 10000);

        // The prompt quotes both passages as numbered sources, then asks the question.
        const QString prompt = fake->lastTurns().back().content;
        QVERIFY2(prompt.contains(QStringLiteral("<source n=\"1\"")) && prompt.contains(QStringLiteral("<source n=\"2\"")), qPrintable(prompt));
        QVERIFY2(prompt.contains(QString::fromLatin1(kPdfSentence)), qPrintable(prompt));
        QVERIFY2(prompt.contains(QString::fromLatin1(kMarkdownSentence)), qPrintable(prompt));
        QVERIFY2(prompt.contains(QStringLiteral("file=\"manual.pdf\" page=\"2\"")), qPrintable(prompt));
        QVERIFY(prompt.endsWith(QStringLiteral("Question: ") + kQuestion));
        QVERIFY(!prompt.contains(QStringLiteral("Chapter one"))); // page 1 says nothing of the valve

        // The history keeps the plain question; the answer carries its sources.
        const auto& rows = app.chat()->messages()->rows();
        QCOMPARE(int(rows.size()), 2);
        QCOMPARE(rows[0].content, kQuestion);
        shownSources = rows[1].sources;
        QCOMPARE(shownSources.size(), 2);
        for (const SourceRecord& source : shownSources) {
            QVERIFY(source.path == pdfPath_ || source.path == markdownPath_);
            QCOMPARE(source.page, source.path == pdfPath_ ? 2 : 0);
            QVERIFY(prompt.contains(source.text));
            QCOMPARE(source.end - source.start, qint64(source.text.toUcs4().size()));
        }
        QTRY_COMPARE(findItems(ui.window->contentItem(), QStringLiteral("sourceChip")).size(), 2);

        // Stored: the conversation's collection and the answer's sources.
        conversationId = app.chat()->currentConversationId();
        app.storage()->flush();
        {
            Database db(data.filePath(QStringLiteral("latent.db")));
            QCOMPARE(db.conversation(conversationId)->collections,
                     QStringList{QString::fromLatin1(DocumentsController::kDefaultCollection)});
            const auto stored = db.messages(conversationId);
            QCOMPARE(stored[1].sources, shownSources);
            QCOMPARE(stored[0].sources.size(), 0);
        }

        // The PDF chip: page 2 of 2 drawn, the passage's line highlighted where the PDF draws it.
        QElapsedTimer opening;
        opening.start();
        EventLoopProbe probe;
        QVERIFY(openChip(ui.window, app, QStringLiteral("manual.pdf, p. 2")));
        qInfo("PDF page opened in %lld ms (click to loaded); max event-loop gap %.1f ms", opening.elapsed(), probe.maxGapMs());
        DocumentViewerController* viewer = app.viewer();
        QCOMPARE(viewer->kind(), QStringLiteral("pdf"));
        QCOMPARE(viewer->page(), 2);
        QCOMPARE(viewer->pageCount(), 2);
        QCOMPARE(viewer->message(), QString());
        QVERIFY(!viewer->pageImage().isNull());
        // Drawn for the width the viewer shows it at (900 px dialog, less its padding), not a default.
        QVERIFY2(viewer->renderWidth() < 1200, qPrintable(QString::number(viewer->renderWidth())));
        QCOMPARE(viewer->pageImage().width(), viewer->renderWidth());
        const SourceRecord pdfSource = shownSources[0].path == pdfPath_ ? shownSources[0] : shownSources[1];
        const QString pdfPassage = pdfSource.text.simplified();
        QVERIFY(pdfPassage.contains(QString::fromLatin1(kPdfSentence)));
        QVERIFY2(!pdfPassage.contains(QString::fromStdString(fillerLine(0))), "the passage is the whole page: the check below would prove nothing");
        const auto highlighted = [&](int line) {
            for (const QVariant& value : viewer->highlights()) {
                const QVariantMap box = value.toMap();
                const double top = box.value(QStringLiteral("y")).toDouble();
                const double bottom = top + box.value(QStringLiteral("height")).toDouble();
                if (top <= lineMiddleFromTop(line) && lineMiddleFromTop(line) <= bottom) return true;
            }
            return false;
        };
        for (const QVariant& value : viewer->highlights()) {
            const QVariantMap box = value.toMap();
            const double top = box.value(QStringLiteral("y")).toDouble();
            QVERIFY(top >= 0.0 && top + box.value(QStringLiteral("height")).toDouble() <= 1.0);
        }
        // Lines wholly in the passage are highlighted; the passage may begin or end inside the
        // line next to them; every line further away is not highlighted.
        int firstInside = -1, lastInside = -1;
        for (int line = 0; line < kPageTwoLines; ++line) {
            const QString text = line == kKestrelLine ? QString::fromLatin1(kPdfSentence) : QString::fromStdString(fillerLine(line));
            if (!pdfPassage.contains(text)) continue;
            if (firstInside < 0) firstInside = line;
            lastInside = line;
            QVERIFY2(highlighted(line), qPrintable(QStringLiteral("line %1 is in the passage but not highlighted").arg(line)));
        }
        QVERIFY(firstInside >= 0 && firstInside <= kKestrelLine && kKestrelLine <= lastInside);
        QVERIFY(lastInside - firstInside >= 2);
        for (int line = 0; line < kPageTwoLines; ++line) {
            if (line < firstInside - 1 || line > lastInside + 1)
                QVERIFY2(!highlighted(line), qPrintable(QStringLiteral("line %1 is not in the passage but highlighted").arg(line)));
        }
        // The view has scrolled the passage's first box into sight.
        QQuickItem* page = findItems(ui.window->contentItem(), QStringLiteral("documentPage")).value(0);
        QQuickItem* pdfView = findItems(ui.window->contentItem(), QStringLiteral("pdfView")).value(0);
        QVERIFY(page && pdfView);
        QTRY_VERIFY_WITH_TIMEOUT(pdfView->property("contentY").toDouble() > 0, 5000);
        const double firstBox = viewer->highlights().value(0).toMap().value(QStringLiteral("y")).toDouble() * page->height();
        const double shownTop = pdfView->property("contentY").toDouble();
        QVERIFY2(firstBox >= shownTop && firstBox <= shownTop + pdfView->height(),
                 qPrintable(QStringLiteral("first box at %1, view %2 … %3").arg(firstBox).arg(shownTop).arg(shownTop + pdfView->height())));
        // Another page shows no highlight; the passage's page shows it again.
        QSignalSpy loaded(viewer, &DocumentViewerController::loaded);
        viewer->showPage(1);
        QVERIFY(loaded.wait(10000));
        QCOMPARE(viewer->page(), 1);
        QVERIFY(viewer->highlights().isEmpty());
        viewer->close();
        QTRY_VERIFY(findItems(ui.window->contentItem(), QStringLiteral("documentPage")).isEmpty());

        // The Markdown chip: the extracted text with exactly the passage's range highlighted.
        QVERIFY(openChip(ui.window, app, QStringLiteral("notes.md")));
        QCOMPARE(viewer->kind(), QStringLiteral("text"));
        QCOMPARE(viewer->message(), QString());
        const SourceRecord markdown = shownSources[0].path == markdownPath_ ? shownSources[0] : shownSources[1];
        QCOMPARE(viewer->text().mid(viewer->highlightStart(), viewer->highlightEnd() - viewer->highlightStart()), markdown.text);
        QVERIFY(viewer->text().contains(QStringLiteral("Unrelated words about lunch")));
        QVERIFY(viewer->highlightedHtml().contains(QStringLiteral("background-color")));
        viewer->close();
    }

    // Restarted: the conversation's answer still has its chips, and they still open.
    AppController app(data.path(), std::make_unique<FakeChatEngine>());
    LoadedUi ui = loadUi(app);
    QVERIFY(ui.window);
    ui.window->show();
    QVERIFY(QTest::qWaitForWindowExposed(ui.window));
    QTRY_VERIFY_WITH_TIMEOUT(app.ready(), 10000);
    QTRY_COMPARE_WITH_TIMEOUT(app.chat()->conversations()->rowCount(), 1, 5000);
    app.chat()->selectConversation(conversationId);
    QTRY_COMPARE_WITH_TIMEOUT(app.chat()->messages()->rowCount(), 2, 5000);
    QCOMPARE(app.chat()->messages()->rows()[1].sources, shownSources);
    QCOMPARE(app.chat()->collections(), QStringList{QString::fromLatin1(DocumentsController::kDefaultCollection)});
    QTRY_COMPARE(findItems(ui.window->contentItem(), QStringLiteral("sourceChip")).size(), 2);
    QVERIFY(openChip(ui.window, app, QStringLiteral("manual.pdf, p. 2")));
    QCOMPARE(app.viewer()->page(), 2);
    QVERIFY(!app.viewer()->highlights().isEmpty());
    app.viewer()->close();
    QTRY_VERIFY(findItems(ui.window->contentItem(), QStringLiteral("documentPage")).isEmpty());

    // "Answer without documents" in the header's menu: the conversation stops using them, saved.
    QQuickItem* button = findItems(ui.window->contentItem(), QStringLiteral("collectionsButton")).value(0);
    QVERIFY(button);
    QTest::qWait(300); // the viewer's closing transition
    click(ui.window, button);
    QTRY_VERIFY_WITH_TIMEOUT(!findItems(ui.window->contentItem(), QStringLiteral("noDocumentsItem")).isEmpty(), 5000);
    QTest::qWait(300);
    click(ui.window, findItems(ui.window->contentItem(), QStringLiteral("noDocumentsItem")).first());
    QTRY_COMPARE(app.chat()->collections(), QStringList());
    app.storage()->flush();
    Database db(data.filePath(QStringLiteral("latent.db")));
    QCOMPARE(db.conversation(conversationId)->collections, QStringList());
    QCOMPARE(db.messages(conversationId)[1].sources, shownSources); // the answer keeps its sources
}

void DocumentChatTest::missingOrChangedFileGivesAPlainMessage() {
    QTemporaryDir data;
    QVERIFY(data.isValid());
    AppController app(data.path(), std::make_unique<FakeChatEngine>());
    QTRY_VERIFY_WITH_TIMEOUT(app.ready(), 10000);
    QVERIFY(indexFolder(app));
    DocumentViewerController* viewer = app.viewer();
    const auto open = [&](const QVariantMap& source) {
        QSignalSpy loaded(viewer, &DocumentViewerController::loaded);
        viewer->openSource(source);
        return loaded.wait(10000);
    };
    const QString passage = QString::fromLatin1(kMarkdownSentence);
    const qint64 start = QStringLiteral("# Notes\n\nUnrelated words about lunch.\n\n").size();
    const QVariantMap source{{QStringLiteral("path"), markdownPath_},
                             {QStringLiteral("page"), 0},
                             {QStringLiteral("start"), start},
                             {QStringLiteral("end"), start + passage.size()},
                             {QStringLiteral("text"), passage}};
    QVERIFY(open(source));
    QCOMPARE(viewer->message(), QString());
    QCOMPARE(viewer->highlightStart(), int(start));

    // Changed on disk (not indexed again): the indexed text is shown, and the change said.
    QVERIFY(writeText(markdownPath_, "# Notes\n\nEverything was rewritten, longer than before.\n"));
    QVERIFY(open(source));
    QVERIFY2(viewer->message().contains(QStringLiteral("changed")), qPrintable(viewer->message()));
    QCOMPARE(viewer->text().mid(viewer->highlightStart(), viewer->highlightEnd() - viewer->highlightStart()), passage);

    // A passage no longer in the text: said so, nothing highlighted.
    QVariantMap gone = source;
    gone[QStringLiteral("text")] = QStringLiteral("A sentence that was never in the notes.");
    QVERIFY(open(gone));
    QVERIFY2(viewer->message().contains(QStringLiteral("no longer in")), qPrintable(viewer->message()));
    QCOMPARE(viewer->highlightStart(), -1);

    // Deleted: a plain message and the passage as quoted.
    QVERIFY(QFile::remove(markdownPath_));
    QVERIFY(open(source));
    QVERIFY2(viewer->message().contains(QStringLiteral("no longer there")), qPrintable(viewer->message()));
    QCOMPARE(viewer->text(), passage);
    QVERIFY(!viewer->openInDefaultApp());

    // A PDF replaced by something that is not a PDF, and a page beyond its end.
    QVERIFY(writeText(pdfPath_, "not a pdf any more"));
    QVariantMap pdf{{QStringLiteral("path"), pdfPath_}, {QStringLiteral("page"), 2}, {QStringLiteral("start"), 0},
                    {QStringLiteral("end"), 10}, {QStringLiteral("text"), QString::fromLatin1(kPdfSentence)}};
    QVERIFY(open(pdf));
    QVERIFY2(viewer->message().contains(QStringLiteral("cannot be shown")), qPrintable(viewer->message()));
    latent::test::write_bytes(pdfPath_.toStdString(), latent::test::make_pdf({{"Only one page now."}}));
    QVERIFY(open(pdf));
    QCOMPARE(viewer->kind(), QStringLiteral("pdf"));
    QCOMPARE(viewer->page(), 1);
    QVERIFY2(viewer->message().contains(QStringLiteral("changed")), qPrintable(viewer->message()));
}

void DocumentChatTest::collectionsBelongToTheirConversation() {
    QTemporaryDir data;
    QVERIFY(data.isValid());
    QTemporaryDir models;
    auto engine = std::make_unique<FakeChatEngine>();
    FakeChatEngine* fake = engine.get();
    AppController app(data.path(), std::move(engine));
    QTRY_VERIFY_WITH_TIMEOUT(app.ready(), 10000);
    app.model()->load(makeModelFile(models));
    QTRY_VERIFY_WITH_TIMEOUT(app.model()->loaded(), 10000);
    QVERIFY(indexFolder(app));
    ChatController* chat = app.chat();
    const QString indexed = QString::fromLatin1(DocumentsController::kDefaultCollection);
    QSignalSpy changed(chat, &ChatController::collectionsChanged);

    // A collection that no longer exists searches nothing (not every collection).
    chat->setCollections({QStringLiteral("Gone")});
    QCOMPARE(changed.count(), 1);
    QVERIFY(chat->send(kQuestion));
    QTRY_VERIFY_WITH_TIMEOUT(!chat->generating(), 10000);
    QVERIFY(!fake->lastTurns().back().content.contains(QStringLiteral("<source")));
    QVERIFY(fake->lastTurns().back().content.contains(QStringLiteral("No passage of the user's documents matched")));
    QVERIFY(chat->messages()->rows().back().sources.isEmpty());
    const qint64 first = chat->currentConversationId();

    // A new chat starts with the last choice made for a new chat; each keeps its own.
    chat->newConversation();
    QCOMPARE(chat->collections(), QStringList{QStringLiteral("Gone")});
    chat->setCollectionUsed(QStringLiteral("Gone"), false);
    chat->setCollectionUsed(indexed, true);
    QCOMPARE(chat->collections(), QStringList{indexed});
    QVERIFY(chat->send(kQuestion));
    QTRY_VERIFY_WITH_TIMEOUT(!chat->generating(), 10000);
    QCOMPARE(chat->messages()->rows().back().sources.size(), 2);
    const qint64 second = chat->currentConversationId();
    // Without collections, a question is sent as typed.
    chat->setCollections({});
    QVERIFY(chat->send(QStringLiteral("And without documents?")));
    QTRY_VERIFY_WITH_TIMEOUT(!chat->generating(), 10000);
    QCOMPARE(fake->lastTurns().back().content, QStringLiteral("And without documents?"));
    QVERIFY(chat->messages()->rows().back().sources.isEmpty());
    chat->setCollections({indexed});

    chat->selectConversation(first);
    QCOMPARE(chat->collections(), QStringList{QStringLiteral("Gone")});
    chat->selectConversation(second);
    QCOMPARE(chat->collections(), QStringList{indexed});
    app.storage()->flush();
    Database db(data.filePath(QStringLiteral("latent.db")));
    QCOMPARE(db.conversation(first)->collections, QStringList{QStringLiteral("Gone")});
    QCOMPARE(db.conversation(second)->collections, QStringList{indexed});
    const auto messages = db.messages(second);
    QCOMPARE(int(messages.size()), 4);
    QCOMPARE(messages[1].sources.size(), 2);
    QVERIFY(messages[3].sources.isEmpty());
}

void DocumentChatTest::textViewerScrollsToAPassageDeepInADocument() {
    // Not in any collection: the viewer extracts the file again.
    const QString path = QDir(folder_).filePath(QStringLiteral("long.md"));
    QByteArray text = "# Long notes\n\n";
    const QByteArray passage = "The kestrel valve hides near the end of these notes.";
    qint64 start = 0;
    for (int line = 0; line < 1200; ++line) {
        if (line == 1000) {
            start = text.size();
            text += passage + "\n\n";
        }
        text += "Line " + QByteArray::number(line) + " of the long notes, with nothing to see here.\n\n";
    }
    QVERIFY(writeText(path, text));
    QTemporaryDir data;
    QVERIFY(data.isValid());
    AppController app(data.path(), std::make_unique<FakeChatEngine>());
    LoadedUi ui = loadUi(app);
    QVERIFY(ui.window);
    ui.window->show();
    QVERIFY(QTest::qWaitForWindowExposed(ui.window));
    QTRY_VERIFY_WITH_TIMEOUT(app.ready(), 10000);

    DocumentViewerController* viewer = app.viewer();
    QSignalSpy loaded(viewer, &DocumentViewerController::loaded);
    EventLoopProbe probe;
    QElapsedTimer opening;
    opening.start();
    viewer->openSource({{QStringLiteral("path"), path},
                        {QStringLiteral("page"), 0},
                        {QStringLiteral("start"), start},
                        {QStringLiteral("end"), start + passage.size()},
                        {QStringLiteral("text"), QString::fromLatin1(passage)}});
    QVERIFY(loaded.wait(10000));
    QCOMPARE(viewer->message(), QString());
    QCOMPARE(viewer->textOffset() + viewer->highlightStart(), int(start));
    QCOMPARE(viewer->text().mid(viewer->highlightStart(), viewer->highlightEnd() - viewer->highlightStart()), QString::fromLatin1(passage));

    // The text view has scrolled so that the passage is on screen.
    QQuickItem* flick = nullptr;
    QQuickItem* textItem = nullptr;
    QTRY_VERIFY((flick = findItems(ui.window->contentItem(), QStringLiteral("textView")).value(0)) != nullptr);
    QVERIFY((textItem = findItems(flick, QStringLiteral("viewerText")).value(0)) != nullptr);
    QTRY_VERIFY_WITH_TIMEOUT(flick->property("contentY").toDouble() > 0, 5000);
    qInfo("%lld characters shown (of %lld), in view after %lld ms; max event-loop gap %.1f ms", qint64(viewer->text().size()),
          qint64(text.size()), opening.elapsed(), probe.maxGapMs());
    QVERIFY(viewer->text().size() < text.size()); // a window of the long text, not all of it
    QRectF rect;
    QVERIFY(QMetaObject::invokeMethod(textItem, "positionToRectangle", Q_RETURN_ARG(QRectF, rect), Q_ARG(int, viewer->highlightStart())));
    const double top = flick->property("contentY").toDouble();
    QVERIFY2(rect.y() >= top && rect.y() + rect.height() <= top + flick->height(),
             qPrintable(QStringLiteral("passage at y %1, view %2 … %3").arg(rect.y()).arg(top).arg(top + flick->height())));
    viewer->close();
    QTRY_VERIFY(findItems(ui.window->contentItem(), QStringLiteral("textView")).isEmpty());
}

QTEST_MAIN(DocumentChatTest)
#include "test_document_chat.moc"
