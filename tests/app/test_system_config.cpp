// Workstation deployment: the administrator's settings file (SystemConfig: parsing, bad input,
// the XDG_CONFIG_DIRS search), how SettingsController applies it (pre-set values under the
// user's, locked values over them, setters refusing, reset), the shared model folders
// (SharedModelListModel: what a scan finds, checked against a listing made here, and the model
// seen through QAbstractItemModelTester), and an AppController started with both.
#include "chat_app.h"
#include "controllers/endpoint_controller.h"
#include "controllers/settings_controller.h"
#include "controllers/shared_model_list_model.h"
#include "controllers/system_config.h"
#include "controllers/text_helpers.h"

#include <QAbstractItemModelTester>
#include <QDir>
#include <QFile>
#include <QRandomGenerator>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <set>

namespace {

QString writeFile(const QString& path, const QByteArray& text) {
    QDir().mkpath(QFileInfo(path).absolutePath());
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly)) return {};
    file.write(text);
    return path;
}

// Sets XDG_CONFIG_DIRS for one test and restores it.
struct ConfigDirs {
    QByteArray saved;
    bool had;
    explicit ConfigDirs(const QByteArray& value) : saved(qgetenv("XDG_CONFIG_DIRS")), had(qEnvironmentVariableIsSet("XDG_CONFIG_DIRS")) {
        qputenv("XDG_CONFIG_DIRS", value);
    }
    ~ConfigDirs() {
        if (had) qputenv("XDG_CONFIG_DIRS", saved);
        else qunsetenv("XDG_CONFIG_DIRS");
    }
};

const QByteArray kExample = R"(
[Settings]
systemPrompt=You help the staff of Example Ltd., briefly.
temperature=0.3
contextLength=8192
backend=cpu
Locked=systemPrompt, temperature
[Models]
SharedFolders=/srv/models, /mnt/llm/, /srv/models
[Policy]
AllowRemoteEndpoints=false
AllowServing=no
)";

} // namespace

class TestSystemConfig : public QObject {
    Q_OBJECT
private slots:
    void readsExample();
    void badInput_data();
    void badInput();
    void missingFileIsEmpty();
    void searchOrder();
    void settingsUnderUserOverLocked();
    void lockedSettersRefuse();
    void resetGoesToAdministratorValues();
    void scanFindsWhatIsThere();
    void modelScansOffTheGuiThread();
    void appControllerUsesSystemConfig();
};

void TestSystemConfig::readsExample() {
    QTemporaryDir dir;
    const SystemConfig config = SystemConfig::read(writeFile(dir.filePath(QStringLiteral("a.conf")), kExample));
    QVERIFY2(config.problems.isEmpty(), qPrintable(config.problems.join('\n')));
    // A system prompt with a comma survives QSettings' list splitting.
    QCOMPARE(config.settings.value(QStringLiteral("systemPrompt")).toString(), QStringLiteral("You help the staff of Example Ltd., briefly."));
    QCOMPARE(config.settings.value(QStringLiteral("temperature")).typeId(), QMetaType::Double);
    QCOMPARE(config.settings.value(QStringLiteral("temperature")).toDouble(), 0.3);
    QCOMPARE(config.settings.value(QStringLiteral("contextLength")).toDouble(), 8192.0);
    QCOMPARE(config.settings.value(QStringLiteral("backend")).toString(), QStringLiteral("cpu"));
    QCOMPARE(config.locked, (QStringList{QStringLiteral("systemPrompt"), QStringLiteral("temperature")}));
    QCOMPARE(config.sharedModelFolders,
             (QStringList{SystemConfig::defaultSharedModelFolder(), QStringLiteral("/srv/models"), QStringLiteral("/mnt/llm")}));
    QVERIFY(!config.allowRemoteEndpoints);
    QVERIFY(!config.allowServing);
}

void TestSystemConfig::badInput_data() {
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QString>("problem");   // a fragment of the one problem reported
    QTest::addColumn<QStringList>("locked");
    QTest::addColumn<bool>("remote");
    QTest::newRow("unknown setting") << QByteArray("[Settings]\nmodelDir=/x\n") << QStringLiteral("modelDir: not a setting") << QStringList() << true;
    QTest::newRow("not a number") << QByteArray("[Settings]\ntopK=many\n") << QStringLiteral("'many' is not a number") << QStringList() << true;
    QTest::newRow("infinite") << QByteArray("[Settings]\ntopP=inf\n") << QStringLiteral("is not a number") << QStringList() << true;
    QTest::newRow("locked without value") << QByteArray("[Settings]\ntopK=5\nLocked=topK, backend\n")
                                          << QStringLiteral("Locked names backend") << QStringList{QStringLiteral("topK")} << true;
    QTest::newRow("relative folder") << QByteArray("[Models]\nSharedFolders=models\n") << QStringLiteral("not an absolute path") << QStringList() << true;
    QTest::newRow("garbled policy") << QByteArray("[Policy]\nAllowRemoteEndpoints=perhaps\n") << QStringLiteral("treated as false") << QStringList() << false;
    QTest::newRow("garbled serving policy") << QByteArray("[Policy]\nAllowServing=2\n") << QStringLiteral("AllowServing: '2' is not true or false; treated as false")
                                            << QStringList() << true;
    QTest::newRow("binary garbage") << QByteArray("\x00\xff[Settings\n=\n\x01", 8) << QString() << QStringList() << true;
}

void TestSystemConfig::badInput() {
    QFETCH(QByteArray, text);
    QFETCH(QString, problem);
    QFETCH(QStringList, locked);
    QFETCH(bool, remote);
    QTemporaryDir dir;
    const SystemConfig config = SystemConfig::read(writeFile(dir.filePath(QStringLiteral("a.conf")), text));
    if (problem.isEmpty()) {
        QVERIFY(config.locked.isEmpty());
    } else {
        QCOMPARE(config.problems.size(), 1);
        QVERIFY2(config.problems.first().contains(problem), qPrintable(config.problems.first()));
    }
    QCOMPARE(config.locked, locked);
    QCOMPARE(config.allowRemoteEndpoints, remote);
    // Only the garbled AllowServing row turns serving off; the default is on.
    QCOMPARE(config.allowServing, !text.contains("AllowServing"));
    QCOMPARE(config.sharedModelFolders.first(), SystemConfig::defaultSharedModelFolder());
}

void TestSystemConfig::missingFileIsEmpty() {
    QTemporaryDir dir;
    const ConfigDirs dirs(dir.path().toUtf8());
    const SystemConfig config = SystemConfig::load();
    QVERIFY(config.path.isEmpty());
    QVERIFY(config.settings.isEmpty());
    QVERIFY(config.locked.isEmpty());
    QVERIFY(config.allowRemoteEndpoints);
    QCOMPARE(config.sharedModelFolders, QStringList{SystemConfig::defaultSharedModelFolder()});
}

void TestSystemConfig::searchOrder() {
    QTemporaryDir dir;
    const QString first = dir.filePath(QStringLiteral("first"));
    const QString second = dir.filePath(QStringLiteral("second"));
    QDir().mkpath(first);
    writeFile(second + QStringLiteral("/latent-chat/latent-chat.conf"), "[Settings]\ntopK=7\n");
    {
        const ConfigDirs dirs((first + ':' + QStringLiteral("relative/ignored") + ':' + second).toUtf8());
        const SystemConfig config = SystemConfig::load();
        QCOMPARE(config.path, second + QStringLiteral("/latent-chat/latent-chat.conf"));
        QCOMPARE(config.settings.value(QStringLiteral("topK")).toInt(), 7);
    }
    writeFile(first + QStringLiteral("/latent-chat/latent-chat.conf"), "[Settings]\ntopK=3\n");
    const ConfigDirs dirs((first + ':' + second).toUtf8());
    QCOMPARE(SystemConfig::load().settings.value(QStringLiteral("topK")).toInt(), 3); // the first found wins
    QCOMPARE(SystemConfig::searchDirs(), (QStringList{first, second}));
}

void TestSystemConfig::settingsUnderUserOverLocked() {
    QTemporaryDir dir;
    const SystemConfig config = SystemConfig::read(writeFile(dir.filePath(QStringLiteral("a.conf")), kExample));
    SettingsController settings(nullptr);
    settings.applySystemConfig(config);
    QCOMPARE(settings.contextLength(), 8192); // pre-set
    QCOMPARE(settings.backend(), QStringLiteral("cpu"));
    QCOMPARE(settings.temperature(), 0.3);
    // The user's stored values: theirs win where unlocked, the administrator's where locked.
    settings.applyStored({{QStringLiteral("contextLength"), 2048},
                          {QStringLiteral("temperature"), 1.5},
                          {QStringLiteral("systemPrompt"), QStringLiteral("mine")},
                          {QStringLiteral("topK"), 9}});
    QCOMPARE(settings.contextLength(), 2048);
    QCOMPARE(settings.topK(), 9);
    QCOMPARE(settings.temperature(), 0.3);
    QCOMPARE(settings.systemPrompt(), QStringLiteral("You help the staff of Example Ltd., briefly."));
    QCOMPARE(settings.lockedSettings(), config.locked);
    QVERIFY(settings.isLocked(QStringLiteral("temperature")));
    QVERIFY(!settings.isLocked(QStringLiteral("topK")));
    QVERIFY(!settings.remoteEndpointsAllowed());
}

void TestSystemConfig::lockedSettersRefuse() {
    // Every setting locked in turn: its setter changes nothing and emits nothing; the others work.
    const QVariantMap values{{QStringLiteral("systemPrompt"), QStringLiteral("fixed")}, {QStringLiteral("temperature"), 0.25},
                             {QStringLiteral("topP"), 0.5},     {QStringLiteral("topK"), 11},
                             {QStringLiteral("minP"), 0.2},     {QStringLiteral("repeatPenalty"), 1.3},
                             {QStringLiteral("maxNewTokens"), 77}, {QStringLiteral("contextLength"), 1024},
                             {QStringLiteral("threads"), 3},    {QStringLiteral("backend"), QStringLiteral("cpu")},
                             {QStringLiteral("themeMode"), QStringLiteral("dark")}};
    const QVariantMap others{{QStringLiteral("systemPrompt"), QStringLiteral("other")}, {QStringLiteral("temperature"), 1.75},
                             {QStringLiteral("topP"), 0.75},    {QStringLiteral("topK"), 99},
                             {QStringLiteral("minP"), 0.6},     {QStringLiteral("repeatPenalty"), 1.9},
                             {QStringLiteral("maxNewTokens"), 4000}, {QStringLiteral("contextLength"), 16384},
                             {QStringLiteral("threads"), 17},   {QStringLiteral("backend"), QStringLiteral("auto")},
                             {QStringLiteral("themeMode"), QStringLiteral("light")}};
    for (auto it = values.constBegin(); it != values.constEnd(); ++it) {
        SystemConfig config;
        config.settings = values;
        config.locked = {it.key()};
        SettingsController settings(nullptr);
        settings.applySystemConfig(config);
        QSignalSpy changed(&settings, &SettingsController::changed);
        QVERIFY(settings.setProperty(it.key().toLatin1().constData(), others.value(it.key())));
        QCOMPARE(changed.count(), 0);
        QCOMPARE(settings.property(it.key().toLatin1().constData()), *it);
        for (auto other = others.constBegin(); other != others.constEnd(); ++other) {
            if (other.key() == it.key()) continue;
            settings.setProperty(other.key().toLatin1().constData(), *other);
            QCOMPARE(settings.property(other.key().toLatin1().constData()), *other);
        }
    }
}

void TestSystemConfig::resetGoesToAdministratorValues() {
    SystemConfig config;
    config.settings = {{QStringLiteral("topK"), 12.0}, {QStringLiteral("temperature"), 0.1}};
    config.locked = {QStringLiteral("temperature")};
    SettingsController settings(nullptr);
    settings.applySystemConfig(config);
    settings.setTopK(500);
    settings.setMinP(0.5);
    settings.resetToDefaults();
    QCOMPARE(settings.topK(), 12);        // the administrator's default
    QCOMPARE(settings.minP(), 0.05);      // the built-in default
    QCOMPARE(settings.temperature(), 0.1); // locked
}

void TestSystemConfig::scanFindsWhatIsThere() {
    QTemporaryDir dir;
    const QString a = dir.filePath(QStringLiteral("a"));
    const QString b = dir.filePath(QStringLiteral("b"));
    QRandomGenerator random(QRandomGenerator::global()->generate());
    std::set<QString> expected;
    // Random files at random depths; the oracle is the rule itself, applied while writing them.
    for (int i = 0; i < 40; ++i) {
        const QString root = random.bounded(2) ? a : b;
        const int depth = static_cast<int>(random.bounded(6)); // 0 … 5 folders below the root
        QString path = root;
        for (int d = 0; d < depth; ++d) path += QStringLiteral("/d%1").arg(random.bounded(3));
        const bool gguf = random.bounded(4) != 0;
        path += QStringLiteral("/m%1.%2").arg(i).arg(gguf ? QStringLiteral("gguf") : QStringLiteral("bin"));
        writeFile(path, QByteArray(static_cast<int>(random.bounded(100)), 'x'));
        if (gguf && depth <= SharedModelListModel::kMaxDepth) expected.insert(QFileInfo(path).absoluteFilePath());
    }
    QDir().mkpath(dir.filePath(QStringLiteral("a/unreadable.gguf"))); // a folder named like a model
    const std::vector<SharedModelFile> found =
        SharedModelListModel::scan({a, b, a + QStringLiteral("/"), dir.filePath(QStringLiteral("missing"))});
    std::set<QString> paths;
    for (const SharedModelFile& file : found) {
        QVERIFY2(paths.insert(file.path).second, qPrintable(file.path)); // no duplicates from the repeated folder
        QCOMPARE(file.bytes, QFileInfo(file.path).size());
        QVERIFY(file.path.startsWith(file.folder + '/'));
    }
    QCOMPARE(paths, expected);
    for (size_t i = 1; i < found.size(); ++i)
        QVERIFY(QFileInfo(found[i - 1].path).fileName().localeAwareCompare(QFileInfo(found[i].path).fileName()) <= 0);
}

void TestSystemConfig::modelScansOffTheGuiThread() {
    QTemporaryDir dir;
    writeFile(dir.filePath(QStringLiteral("x/two.gguf")), "GGUF");
    writeFile(dir.filePath(QStringLiteral("x/one.gguf")), "GGUF....");
    SharedModelListModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy paths(&model, &SharedModelListModel::pathsChanged);
    model.setFolders({dir.filePath(QStringLiteral("x"))});
    QVERIFY(model.scanning() || paths.count() > 0);
    QVERIFY(QTest::qWaitFor([&] { return paths.count() > 0 && !model.scanning(); }, 5000));
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(model.data(model.index(0), SharedModelListModel::FileNameRole).toString(), QStringLiteral("one.gguf"));
    QCOMPARE(model.data(model.index(0), SharedModelListModel::SizeTextRole).toString(), formatBytes(8));
    QCOMPARE(model.paths(), (QStringList{dir.filePath(QStringLiteral("x/one.gguf")), dir.filePath(QStringLiteral("x/two.gguf"))}));
    // A model added later appears on refresh.
    writeFile(dir.filePath(QStringLiteral("x/three.gguf")), "GGUF");
    paths.clear();
    model.refresh();
    model.refresh(); // while the first runs: one more scan after it, no crash, the same result
    QVERIFY(QTest::qWaitFor([&] { return paths.count() > 0 && !model.scanning(); }, 5000));
    QCOMPARE(model.rowCount(), 3);
}

void TestSystemConfig::appControllerUsesSystemConfig() {
    QTemporaryDir etc;
    QTemporaryDir models;
    writeFile(models.filePath(QStringLiteral("shared.gguf")), "GGUF");
    writeFile(etc.filePath(QStringLiteral("latent-chat/latent-chat.conf")),
              "[Settings]\nsystemPrompt=Be brief\nLocked=systemPrompt\n[Models]\nSharedFolders=" + models.path().toUtf8() +
                  "\n[Policy]\nAllowRemoteEndpoints=false\n");
    const ConfigDirs dirs(etc.path().toUtf8());
    ChatApp app;
    // A stored prompt from before the lock: the locked value is used, the stored one kept in the database.
    {
        Database db(app.dataDir() + QStringLiteral("/latent.db"));
        db.setSetting(QStringLiteral("systemPrompt"), QStringLiteral("old prompt"));
    }
    QVERIFY(app.start());
    SettingsController* settings = app.controller->settings();
    QCOMPARE(settings->systemPrompt(), QStringLiteral("Be brief"));
    QCOMPARE(settings->lockedSettings(), QStringList{QStringLiteral("systemPrompt")});
    // The one remote-endpoint policy: Settings and the endpoint controller both follow it, and the
    // endpoint settings name the file.
    QVERIFY(!settings->remoteEndpointsAllowed());
    EndpointController* endpoint = app.controller->endpoint();
    QVERIFY(!endpoint->allowed());
    QVERIFY(endpoint->policyNote().contains(etc.filePath(QStringLiteral("latent-chat/latent-chat.conf"))));
    endpoint->refreshModels();
    QVERIFY(endpoint->error().contains(QStringLiteral("administrator")));
    SharedModelListModel* shared = app.controller->sharedModels();
    QVERIFY(QTest::qWaitFor([&] { return shared->paths().contains(models.filePath(QStringLiteral("shared.gguf"))); }, 5000));
    QVERIFY(app.loadModel(models.filePath(QStringLiteral("shared.gguf"))));
}

QTEST_MAIN(TestSystemConfig)
#include "test_system_config.moc"
