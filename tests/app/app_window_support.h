// Helpers for the suites that drive the real window (Main.qml over a real AppController):
// loading it, loading a model, typing, timing the GUI thread's event loop, reading the
// process's memory, building a small random model, running the `latent-chat` executable.
#pragma once

#include "controllers/app_controller.h"
#include "model/model_builder.h"

#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QQmlApplicationEngine>
#include <QQuickItem>
#include <QQuickWindow>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include <algorithm>
#include <memory>

namespace app_test {

// Every visible item below `root` (the overlay's popups included) whose objectName is `name`.
inline QList<QQuickItem*> findItems(QQuickItem* root, const QString& name) {
    QList<QQuickItem*> found;
    if (!root) return found;
    for (QQuickItem* child : root->childItems()) {
        if (!child->isVisible()) continue;
        if (child->objectName() == name) found << child;
        found << findItems(child, name);
    }
    return found;
}


// Largest gap between ticks of a 5 ms timer on this thread while it exists.
class EventLoopProbe {
public:
    EventLoopProbe() {
        timer_.setInterval(5);
        QObject::connect(&timer_, &QTimer::timeout, [this] {
            const qint64 now = clock_.nsecsElapsed();
            if (last_ >= 0) maxGapMs_ = std::max(maxGapMs_, double(now - last_) / 1e6);
            last_ = now;
            ++ticks_;
        });
        clock_.start();
        timer_.start();
    }
    double maxGapMs() const { return maxGapMs_; }
    int ticks() const { return ticks_; }

private:
    QTimer timer_;
    QElapsedTimer clock_;
    qint64 last_ = -1;
    double maxGapMs_ = 0.0;
    int ticks_ = 0;
};

// The window of a loaded Main.qml with `app` as its required property.
struct LoadedUi {
    std::unique_ptr<QQmlApplicationEngine> engine;
    QQuickWindow* window = nullptr;
};

inline LoadedUi loadUi(AppController& app) {
    LoadedUi ui;
    ui.engine = std::make_unique<QQmlApplicationEngine>();
    ui.engine->addImportPath(QStringLiteral("qrc:/qt/qml"));
    ui.engine->setInitialProperties({{QStringLiteral("app"), QVariant::fromValue(&app)}});
    ui.engine->load(QUrl(QStringLiteral("qrc:/qt/qml/LatentChat/Main.qml")));
    if (!ui.engine->rootObjects().isEmpty())
        ui.window = qobject_cast<QQuickWindow*>(ui.engine->rootObjects().first());
    return ui;
}

// Shows the window of `app` and loads `modelPath`; false when any step times out.
inline bool showWithModel(AppController& app, LoadedUi& ui, const QString& modelPath) {
    ui = loadUi(app);
    if (!ui.window) return false;
    ui.window->show();
    if (!QTest::qWaitForWindowExposed(ui.window)) return false;
    if (!QTest::qWaitFor([&] { return app.ready(); }, 10000)) return false;
    app.model()->load(modelPath);
    return QTest::qWaitFor([&] { return app.model()->loaded(); }, 10000);
}

// Types ASCII text into whatever has focus, one key at a time.
inline void typeText(QWindow* window, const QString& text) {
    for (const QChar c : text) QTest::keyClick(window, c.toLatin1());
}

// A small random model in `dir` (Q8_0). The default shape still takes a few seconds to answer at
// length (~45 MB read per token), so the GUI thread is timed against a real, busy engine.
inline QString makeModel(const QTemporaryDir& dir, const QString& fileName = QStringLiteral("e2e-q8_0.gguf")) {
    const QString path = dir.filePath(fileName);
    latent::ModelShape shape = *latent::model_shape_preset("tiny");
    shape.name = "random-e2e";
    shape.n_layer = 6;
    shape.n_embd = 768;
    shape.n_head = 8;
    shape.n_vocab = 4096;
    shape.special_tokens_start = shape.n_vocab - 6;
    shape.kv_lora_rank = 256;
    shape.qk_nope_dim = 64;
    shape.qk_rope_dim = 32;
    shape.v_head_dim = 64;
    shape.n_ff = 2048;
    shape.n_ff_expert = 512;
    shape.n_expert = 16;
    latent::BuildOptions options;
    options.scheme = latent::WeightScheme::Q8_0;
    options.seed = 7;
    latent::build_model_file(shape, options, path.toStdString());
    return path;
}

// The whole text of a file ("" when it cannot be read): the app's log, for instance.
// The app's log in a data folder ("" until it exists).
inline QByteArray appLog(const QTemporaryDir& data) {
    QFile file(data.filePath(QStringLiteral("latent-chat.log")));
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

// SIGTERM (a logout, `kill`) to a started latent-chat: whether it quit within 15 s (killed if not).
inline bool quitsOnSigterm(QProcess& process) {
    process.terminate();
    const bool ended = process.waitForFinished(15000);
    if (!ended) process.kill();
    return ended;
}

inline QByteArray readFile(const QString& path) {
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

// Resident memory of this process now and its peak since the last resetPeakRss(), in MiB
// (Linux /proc; -1 where unavailable).
inline double procStatusMiB(const QByteArray& field) {
    const QByteArray status = readFile(QStringLiteral("/proc/self/status"));
    for (const QByteArray& line : status.split('\n'))
        if (line.startsWith(field + ':')) return line.mid(field.size() + 1).trimmed().split(' ').first().toDouble() / 1024.0;
    return -1.0;
}
inline double rssMiB() { return procStatusMiB("VmRSS"); }
inline double peakRssMiB() { return procStatusMiB("VmHWM"); }
inline void resetPeakRss() {
    QFile clear(QStringLiteral("/proc/self/clear_refs"));
    if (clear.open(QIODevice::WriteOnly)) clear.write("5"); // "5": reset the peak RSS to the current RSS
}

} // namespace app_test
