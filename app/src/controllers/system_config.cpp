#include "controllers/system_config.h"

#include <QDir>
#include <QFileInfo>
#include <QSettings>

#include <cmath>

namespace {

// SettingsController's persisted properties and whether each is a number (else a string).
struct SettingKey {
    const char* name;
    bool numeric;
};
constexpr SettingKey kSettingKeys[] = {
    {"systemPrompt", false}, {"temperature", true},   {"topP", true},          {"topK", true},
    {"minP", true},          {"repeatPenalty", true}, {"maxNewTokens", true},  {"contextLength", true},
    {"threads", true},       {"backend", false},      {"themeMode", false},
};

const SettingKey* findKey(const QString& name) {
    for (const SettingKey& key : kSettingKeys)
        if (name == QLatin1String(key.name)) return &key;
    return nullptr;
}

// QSettings gives a comma-separated value as a QStringList and a single one as a QString.
QStringList listValue(const QVariant& value) {
    QStringList items = value.typeId() == QMetaType::QStringList ? value.toStringList() : value.toString().split(QLatin1Char(','));
    QStringList trimmed;
    for (const QString& item : items)
        if (!item.trimmed().isEmpty()) trimmed << item.trimmed();
    return trimmed;
}

// QSettings splits an unquoted text with commas (a system prompt) into a list: join it back.
QString textValue(const QVariant& value) {
    return value.typeId() == QMetaType::QStringList ? value.toStringList().join(QStringLiteral(", ")) : value.toString();
}

void readSettings(QSettings& file, SystemConfig& config) {
    file.beginGroup(QStringLiteral("Settings"));
    for (const QString& name : file.childKeys()) {
        if (name == QLatin1String("Locked")) continue;
        const SettingKey* key = findKey(name);
        if (key == nullptr) {
            config.problems << QStringLiteral("[Settings] %1: not a setting; ignored").arg(name);
            continue;
        }
        const QString text = textValue(file.value(name));
        if (!key->numeric) {
            config.settings.insert(name, text);
            continue;
        }
        bool ok = false;
        const double number = text.trimmed().toDouble(&ok);
        if (!ok || !std::isfinite(number)) {
            config.problems << QStringLiteral("[Settings] %1: '%2' is not a number; ignored").arg(name, text);
            continue;
        }
        config.settings.insert(name, number);
    }
    for (const QString& name : listValue(file.value(QStringLiteral("Locked")))) {
        if (!config.settings.contains(name)) {
            config.problems << QStringLiteral("[Settings] Locked names %1, which has no valid value here; not locked").arg(name);
            continue;
        }
        if (!config.locked.contains(name)) config.locked << name;
    }
    file.endGroup();
}

// A yes/no policy of [Policy]; an unreadable value must not open what the administrator meant
// to close: it counts as false.
void readPolicy(QSettings& file, const QString& name, bool& value, QStringList& problems) {
    const QVariant v = file.value(QStringLiteral("Policy/") + name);
    if (!v.isValid()) return;
    const QString text = v.toString().trimmed().toLower();
    if (text == QLatin1String("true") || text == QLatin1String("1") || text == QLatin1String("yes")) {
        value = true;
    } else if (text == QLatin1String("false") || text == QLatin1String("0") || text == QLatin1String("no")) {
        value = false;
    } else {
        value = false;
        problems << QStringLiteral("[Policy] %1: '%2' is not true or false; treated as false").arg(name, v.toString());
    }
}

void readModelsAndPolicy(QSettings& file, SystemConfig& config) {
    for (const QString& folder : listValue(file.value(QStringLiteral("Models/SharedFolders")))) {
        if (!QDir::isAbsolutePath(folder)) {
            config.problems << QStringLiteral("[Models] SharedFolders: '%1' is not an absolute path; ignored").arg(folder);
            continue;
        }
        const QString clean = QDir::cleanPath(folder);
        if (!config.sharedModelFolders.contains(clean)) config.sharedModelFolders << clean;
    }
    readPolicy(file, QStringLiteral("AllowRemoteEndpoints"), config.allowRemoteEndpoints, config.problems);
    readPolicy(file, QStringLiteral("AllowServing"), config.allowServing, config.problems);
}

} // namespace

QStringList SystemConfig::searchDirs() {
    const QString env = qEnvironmentVariable("XDG_CONFIG_DIRS");
    QStringList dirs;
    for (const QString& dir : env.split(QLatin1Char(':'), Qt::SkipEmptyParts))
        if (QDir::isAbsolutePath(dir)) dirs << dir;
    if (dirs.isEmpty()) dirs << QStringLiteral("/etc/xdg");
    return dirs;
}

SystemConfig SystemConfig::load() {
    for (const QString& dir : searchDirs()) {
        const QString path = QDir(dir).filePath(QStringLiteral("latent-chat/latent-chat.conf"));
        if (QFileInfo::exists(path)) return read(path);
    }
    SystemConfig config;
    config.sharedModelFolders << defaultSharedModelFolder();
    return config;
}

SystemConfig SystemConfig::read(const QString& path) {
    SystemConfig config;
    config.sharedModelFolders << defaultSharedModelFolder();
    QSettings file(path, QSettings::IniFormat);
    if (file.status() != QSettings::NoError || !QFileInfo(path).isReadable()) {
        config.problems << QStringLiteral("%1 cannot be read; no system settings apply").arg(path);
        return config;
    }
    config.path = path;
    readSettings(file, config);
    readModelsAndPolicy(file, config);
    return config;
}
