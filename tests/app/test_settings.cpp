// SettingsController: clamping, persistence through a real StorageThread (read back by a second
// controller), and stored values that are wrong in type or range. Also the presentation
// settings' other halves: the Theme singleton (modes, palette changes, contrast) and logging.
#include "controllers/app_logging.h"
#include "controllers/settings_controller.h"
#include "controllers/theme.h"
#include "storage/database.h"
#include "storage/storage_thread.h"

#include "session/backend_factory.h"

#include <QFile>
#include <QGuiApplication>
#include <QPalette>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <spdlog/spdlog.h>

#include <cmath>
#include <limits>

namespace {

// WCAG 2 contrast ratio of two colours (1 … 21).
double contrast(const QColor& a, const QColor& b) {
    const auto luminance = [](const QColor& c) {
        const auto channel = [](double v) { return v <= 0.03928 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4); };
        return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF());
    };
    const double la = luminance(a), lb = luminance(b);
    return (std::max(la, lb) + 0.05) / (std::min(la, lb) + 0.05);
}

} // namespace

class TestSettings : public QObject {
    Q_OBJECT
private slots:
    void defaults();
    void clamping_data();
    void clamping();
    void changedOnlyOnRealChange();
    void persistsAndReadsBack();
    void writesOnlyOnChange();
    void badStoredValues_data();
    void badStoredValues();
    void resetToDefaults();
    void backends();
    void themeModes();
    void themeContrast_data();
    void themeContrast();
    void themeFollowsSystemPalette();
    void loggingWritesFile();
};

void TestSettings::defaults() {
    SettingsController s(nullptr);
    QCOMPARE(s.systemPrompt(), QString());
    QCOMPARE(s.temperature(), 0.7);
    QCOMPARE(s.topP(), 0.95);
    QCOMPARE(s.topK(), 40);
    QCOMPARE(s.minP(), 0.05);
    QCOMPARE(s.repeatPenalty(), 1.0);
    QCOMPARE(s.maxNewTokens(), 1024);
    QCOMPARE(s.contextLength(), 4096);
    QCOMPARE(s.threads(), 0);
    QCOMPARE(s.backend(), QStringLiteral("auto"));
    QCOMPARE(s.themeMode(), QStringLiteral("system"));
    QVERIFY(s.hardwareThreads() >= 1);
}

void TestSettings::clamping_data() {
    QTest::addColumn<QByteArray>("property");
    QTest::addColumn<QVariant>("input");
    QTest::addColumn<QVariant>("expected");
    QTest::newRow("temperature below") << QByteArray("temperature") << QVariant(-1.0) << QVariant(0.0);
    QTest::newRow("temperature above") << QByteArray("temperature") << QVariant(3.5) << QVariant(2.0);
    QTest::newRow("temperature inside") << QByteArray("temperature") << QVariant(1.25) << QVariant(1.25);
    QTest::newRow("temperature nan ignored") << QByteArray("temperature")
                                             << QVariant(std::numeric_limits<double>::quiet_NaN()) << QVariant(0.7);
    QTest::newRow("topP above") << QByteArray("topP") << QVariant(1.5) << QVariant(1.0);
    QTest::newRow("topP below") << QByteArray("topP") << QVariant(-0.2) << QVariant(0.0);
    QTest::newRow("topK below") << QByteArray("topK") << QVariant(-5) << QVariant(0);
    QTest::newRow("topK above") << QByteArray("topK") << QVariant(5000) << QVariant(1000);
    QTest::newRow("minP below") << QByteArray("minP") << QVariant(-0.1) << QVariant(0.0);
    QTest::newRow("minP above") << QByteArray("minP") << QVariant(2.0) << QVariant(1.0);
    QTest::newRow("repeatPenalty below") << QByteArray("repeatPenalty") << QVariant(0.5) << QVariant(1.0);
    QTest::newRow("repeatPenalty above") << QByteArray("repeatPenalty") << QVariant(2.5) << QVariant(2.0);
    QTest::newRow("maxNewTokens below") << QByteArray("maxNewTokens") << QVariant(0) << QVariant(1);
    QTest::newRow("maxNewTokens above") << QByteArray("maxNewTokens") << QVariant(100000) << QVariant(32768);
    QTest::newRow("contextLength below") << QByteArray("contextLength") << QVariant(10) << QVariant(256);
    QTest::newRow("contextLength above") << QByteArray("contextLength") << QVariant(1000000) << QVariant(131072);
    QTest::newRow("contextLength inside") << QByteArray("contextLength") << QVariant(8192) << QVariant(8192);
    QTest::newRow("threads below") << QByteArray("threads") << QVariant(-1) << QVariant(0);
    QTest::newRow("threads above") << QByteArray("threads") << QVariant(1000) << QVariant(256);
    QTest::newRow("backend case") << QByteArray("backend") << QVariant(QStringLiteral("CPU")) << QVariant(QStringLiteral("cpu"));
    QTest::newRow("backend unknown") << QByteArray("backend") << QVariant(QStringLiteral("vulkan"))
                                     << QVariant(QStringLiteral("auto"));
    QTest::newRow("theme dark") << QByteArray("themeMode") << QVariant(QStringLiteral("Dark")) << QVariant(QStringLiteral("dark"));
    QTest::newRow("theme unknown") << QByteArray("themeMode") << QVariant(QStringLiteral("purple"))
                                   << QVariant(QStringLiteral("system"));
    QTest::newRow("system prompt kept as typed") << QByteArray("systemPrompt") << QVariant(QStringLiteral(" Be brief. "))
                                                 << QVariant(QStringLiteral(" Be brief. "));
}

void TestSettings::clamping() {
    QFETCH(QByteArray, property);
    QFETCH(QVariant, input);
    QFETCH(QVariant, expected);
    SettingsController s(nullptr);
    QVERIFY(s.setProperty(property.constData(), input));
    const QVariant actual = s.property(property.constData());
    if (expected.typeId() == QMetaType::Double) QCOMPARE(actual.toDouble(), expected.toDouble());
    else QCOMPARE(actual, expected);
}

void TestSettings::changedOnlyOnRealChange() {
    SettingsController s(nullptr);
    QSignalSpy changed(&s, &SettingsController::changed);
    s.setTemperature(0.7); // the default already
    s.setTopK(40);
    s.setBackend(QStringLiteral("auto"));
    QCOMPARE(changed.size(), 0);
    s.setTemperature(5.0);
    QCOMPARE(changed.size(), 1);
    s.setTemperature(2.5); // clamps to the same 2.0
    QCOMPARE(changed.size(), 1);
    s.setThemeMode(QStringLiteral("nonsense"));
    QCOMPARE(changed.size(), 1);
}

void TestSettings::persistsAndReadsBack() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("latent.db"));
    {
        StorageThread store(path);
        QSignalSpy opened(&store, &StorageThread::opened);
        QVERIFY(opened.wait(5000));
        SettingsController s(&store);
        s.setSystemPrompt(QStringLiteral("You are terse."));
        s.setTemperature(1.3);
        s.setTopP(0.5);
        s.setTopK(7);
        s.setMinP(0.2);
        s.setRepeatPenalty(1.1);
        s.setMaxNewTokens(64);
        s.setContextLength(2048);
        s.setThreads(3);
        s.setBackend(QStringLiteral("cpu"));
        s.setThemeMode(QStringLiteral("dark"));
        store.flush();
    }

    Database db(path);
    const QVariantMap stored = db.settings();
    QCOMPARE(stored.value(QStringLiteral("systemPrompt")).toString(), QStringLiteral("You are terse."));
    QCOMPARE(stored.value(QStringLiteral("temperature")).toDouble(), 1.3);
    QCOMPARE(stored.value(QStringLiteral("topK")).toInt(), 7);
    QCOMPARE(stored.value(QStringLiteral("backend")).toString(), QStringLiteral("cpu"));

    SettingsController second(nullptr);
    QSignalSpy changed(&second, &SettingsController::changed);
    second.applyStored(stored);
    QCOMPARE(changed.size(), 1);
    QCOMPARE(second.systemPrompt(), QStringLiteral("You are terse."));
    QCOMPARE(second.temperature(), 1.3);
    QCOMPARE(second.topP(), 0.5);
    QCOMPARE(second.topK(), 7);
    QCOMPARE(second.minP(), 0.2);
    QCOMPARE(second.repeatPenalty(), 1.1);
    QCOMPARE(second.maxNewTokens(), 64);
    QCOMPARE(second.contextLength(), 2048);
    QCOMPARE(second.threads(), 3);
    QCOMPARE(second.backend(), QStringLiteral("cpu"));
    QCOMPARE(second.themeMode(), QStringLiteral("dark"));
    // The values as the engine sees them.
    const LoadSettings load = second.loadSettings();
    QCOMPARE(load.contextLength, 2048);
    QCOMPARE(load.threads, 3);
    QCOMPARE(load.backend, QStringLiteral("cpu"));
    const SamplingSettings sampling = second.samplingSettings();
    QCOMPARE(sampling.temperature, 1.3);
    QCOMPARE(sampling.topP, 0.5);
    QCOMPARE(sampling.topK, 7);
    QCOMPARE(sampling.minP, 0.2);
    QCOMPARE(sampling.repeatPenalty, 1.1);
    QCOMPARE(sampling.maxNewTokens, 64);
    QCOMPARE(second.toVariantMap(), stored);
}

// Setting a value it already has writes nothing: a value changed behind its back stays.
void TestSettings::writesOnlyOnChange() {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("latent.db"));
    StorageThread store(path);
    QSignalSpy opened(&store, &StorageThread::opened);
    QVERIFY(opened.wait(5000));
    SettingsController s(&store);
    s.setTopK(12);
    store.flush();
    {
        Database other(path);
        other.setSetting(QStringLiteral("topK"), 99);
    }
    s.setTopK(12); // no change: no write
    s.setMinP(0.3);
    store.flush();
    Database check(path);
    QCOMPARE(check.settings().value(QStringLiteral("topK")).toInt(), 99);
    QCOMPARE(check.settings().value(QStringLiteral("minP")).toDouble(), 0.3);
}

void TestSettings::badStoredValues_data() {
    QTest::addColumn<QString>("key");
    QTest::addColumn<QVariant>("stored");
    QTest::addColumn<QVariant>("expected");
    QTest::newRow("temperature as text") << QStringLiteral("temperature") << QVariant(QStringLiteral("hot")) << QVariant(0.7);
    QTest::newRow("temperature as bool") << QStringLiteral("temperature") << QVariant(true) << QVariant(0.7);
    QTest::newRow("temperature out of range") << QStringLiteral("temperature") << QVariant(9.0) << QVariant(2.0);
    QTest::newRow("temperature infinite") << QStringLiteral("temperature")
                                          << QVariant(std::numeric_limits<double>::infinity()) << QVariant(0.7);
    QTest::newRow("topK fractional") << QStringLiteral("topK") << QVariant(12.7) << QVariant(13);
    QTest::newRow("topK as list") << QStringLiteral("topK") << QVariant(QVariantList{1, 2}) << QVariant(40);
    QTest::newRow("maxNewTokens negative") << QStringLiteral("maxNewTokens") << QVariant(-5) << QVariant(1);
    QTest::newRow("contextLength huge") << QStringLiteral("contextLength") << QVariant(1e12) << QVariant(131072);
    QTest::newRow("contextLength as long long") << QStringLiteral("contextLength") << QVariant(qlonglong(8192))
                                                << QVariant(8192);
    QTest::newRow("threads as map") << QStringLiteral("threads") << QVariant(QVariantMap{{QStringLiteral("a"), 1}})
                                    << QVariant(0);
    QTest::newRow("backend as number") << QStringLiteral("backend") << QVariant(3) << QVariant(QStringLiteral("auto"));
    QTest::newRow("backend unknown") << QStringLiteral("backend") << QVariant(QStringLiteral("tpu"))
                                     << QVariant(QStringLiteral("auto"));
    QTest::newRow("backend ok") << QStringLiteral("backend") << QVariant(QStringLiteral("cpu")) << QVariant(QStringLiteral("cpu"));
    QTest::newRow("themeMode unknown") << QStringLiteral("themeMode") << QVariant(QStringLiteral("sepia"))
                                       << QVariant(QStringLiteral("system"));
    QTest::newRow("systemPrompt as number") << QStringLiteral("systemPrompt") << QVariant(42) << QVariant(QString());
    QTest::newRow("systemPrompt ok") << QStringLiteral("systemPrompt") << QVariant(QStringLiteral("Hi")) << QVariant(QStringLiteral("Hi"));
}

void TestSettings::badStoredValues() {
    QFETCH(QString, key);
    QFETCH(QVariant, stored);
    QFETCH(QVariant, expected);
    SettingsController s(nullptr);
    // A non-default starting value shows that a bad stored value means the default, not "keep".
    s.setTemperature(1.9);
    s.setTopK(500);
    s.setThreads(8);
    s.setSystemPrompt(QStringLiteral("before"));
    s.applyStored({{key, stored}, {QStringLiteral("unknownKey"), 5}, {QStringLiteral("recentModels"), QStringList{}}});
    const QVariant actual = s.property(key.toLatin1().constData());
    if (expected.typeId() == QMetaType::Double) QCOMPARE(actual.toDouble(), expected.toDouble());
    else QCOMPARE(actual, expected);
}

void TestSettings::resetToDefaults() {
    SettingsController s(nullptr);
    s.setTemperature(1.5);
    s.setSystemPrompt(QStringLiteral("x"));
    s.setThemeMode(QStringLiteral("light"));
    s.resetToDefaults();
    SettingsController fresh(nullptr);
    QCOMPARE(s.toVariantMap(), fresh.toVariantMap());
}

void TestSettings::backends() {
    SettingsController s(nullptr);
    const QStringList names = s.availableBackends();
    QVERIFY(names.contains(QStringLiteral("auto")));
    QVERIFY(names.contains(QStringLiteral("cpu")));
    QCOMPARE(names.contains(QStringLiteral("cuda")), latent::backend_kind_available(latent::BackendKind::Cuda));
    s.setBackend(QStringLiteral("cuda"));
    QCOMPARE(s.backend(), latent::backend_kind_available(latent::BackendKind::Cuda) ? QStringLiteral("cuda")
                                                                                     : QStringLiteral("auto"));
}

void TestSettings::themeModes() {
    Theme theme;
    QSignalSpy changed(&theme, &Theme::changed);
    QCOMPARE(theme.mode(), QStringLiteral("system"));
    theme.setMode(QStringLiteral("dark"));
    QCOMPARE(theme.mode(), QStringLiteral("dark"));
    QVERIFY(theme.dark());
    QCOMPARE(changed.size(), 1);
    QVERIFY(theme.text().lightness() > theme.background().lightness());
    theme.setMode(QStringLiteral("bogus"));
    QCOMPARE(theme.mode(), QStringLiteral("dark"));
    QCOMPARE(changed.size(), 1);
    theme.setMode(QStringLiteral("Light"));
    QCOMPARE(theme.mode(), QStringLiteral("light"));
    QVERIFY(!theme.dark());
    QVERIFY(theme.text().lightness() < theme.background().lightness());
    QCOMPARE(changed.size(), 2);
    QVERIFY(!theme.monoFont().isEmpty());
    QCOMPARE(theme.spacing(), 8);
}

void TestSettings::themeContrast_data() {
    QTest::addColumn<QString>("mode");
    QTest::newRow("light") << QStringLiteral("light");
    QTest::newRow("dark") << QStringLiteral("dark");
}

// Text stays readable on every surface it is drawn on (WCAG AA, 4.5:1).
void TestSettings::themeContrast() {
    QFETCH(QString, mode);
    Theme theme;
    theme.setMode(mode);
    const QList<QPair<const char*, QColor>> backgrounds{
        {"background", theme.background()}, {"surface", theme.surface()},           {"sidebar", theme.sidebar()},
        {"userBubble", theme.userBubble()}, {"assistantBubble", theme.assistantBubble()},
        {"codeBackground", theme.codeBackground()}, {"thinkingBackground", theme.thinkingBackground()},
    };
    const QList<QPair<const char*, QColor>> foregrounds{
        {"text", theme.text()}, {"textMuted", theme.textMuted()}, {"accent", theme.accent()}, {"danger", theme.danger()}};
    for (const auto& [fgName, fg] : foregrounds)
        for (const auto& [bgName, bg] : backgrounds)
            QVERIFY2(contrast(fg, bg) >= 4.5, qPrintable(QStringLiteral("%1 on %2: %3").arg(
                                                  QLatin1String(fgName), QLatin1String(bgName)).arg(contrast(fg, bg))));
    QVERIFY(contrast(theme.text(), theme.selection()) >= 7.0);
    QVERIFY(contrast(theme.accentText(), theme.accent()) >= 4.5);
}

void TestSettings::themeFollowsSystemPalette() {
    const QPalette original = QGuiApplication::palette();
    Theme theme;
    QSignalSpy changed(&theme, &Theme::changed);
    QPalette dark = original;
    dark.setColor(QPalette::Window, QColor(0x20, 0x20, 0x20));
    dark.setColor(QPalette::WindowText, QColor(0xEE, 0xEE, 0xEE));
    QGuiApplication::setPalette(dark);
    QTRY_VERIFY(changed.size() >= 1);
    QVERIFY(theme.dark());
    const auto afterDark = changed.size();

    QPalette light = original;
    light.setColor(QPalette::Window, QColor(0xF0, 0xF0, 0xF0));
    light.setColor(QPalette::WindowText, QColor(0x10, 0x10, 0x10));
    QGuiApplication::setPalette(light);
    QTRY_VERIFY(changed.size() > afterDark);
    QVERIFY(!theme.dark());

    // A forced mode ignores the system.
    theme.setMode(QStringLiteral("dark"));
    const auto forced = changed.size();
    QGuiApplication::setPalette(dark);
    QGuiApplication::setPalette(light);
    QCoreApplication::processEvents();
    QCOMPARE(changed.size(), forced);
    QVERIFY(theme.dark());
    QGuiApplication::setPalette(original);
}

void TestSettings::loggingWritesFile() {
    QTemporaryDir dir;
    const QtMessageHandler testHandler = qInstallMessageHandler(nullptr);
    qInstallMessageHandler(testHandler);
    const auto previousLogger = spdlog::default_logger();

    const QString logPath = dir.filePath(QStringLiteral("logs/latent-chat.log"));
    setupLogging(dir.filePath(QStringLiteral("logs")), false);
    qWarning("warning-from-qt");
    qDebug("debug-hidden");
    spdlog::info("info-from-spdlog");
    spdlog::default_logger()->flush();
    setupLogging(dir.filePath(QStringLiteral("logs")), true);
    qDebug("debug-shown");
    spdlog::default_logger()->flush();

    qInstallMessageHandler(testHandler);
    spdlog::set_default_logger(previousLogger);

    QFile file(logPath);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QByteArray log = file.readAll();
    QVERIFY2(log.contains("warning-from-qt"), log.constData());
    QVERIFY(log.contains("info-from-spdlog"));
    QVERIFY(!log.contains("debug-hidden"));
    QVERIFY(log.contains("debug-shown"));
    QVERIFY(log.contains("[warning]"));
}

QTEST_MAIN(TestSettings)
#include "test_settings.moc"
