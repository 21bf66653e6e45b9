#include "controllers/settings_controller.h"

#include "storage/storage_thread.h"

#include "session/backend_factory.h"

#include <QJsonDocument>
#include <QJsonObject>

#include <algorithm>
#include <cmath>
#include <optional>
#include <thread>

namespace {

// Defaults (the header's initial values) and ranges.
const QString kDefaultBackend = QStringLiteral("auto");
const QString kDefaultThemeMode = QStringLiteral("system");
constexpr double kDefaultTemperature = 0.7;
constexpr double kDefaultTopP = 0.95;
constexpr int kDefaultTopK = 40;
constexpr double kDefaultMinP = 0.05;
constexpr double kDefaultRepeatPenalty = 1.0;
constexpr int kDefaultMaxNewTokens = 1024;
constexpr int kDefaultContextLength = 4096;
constexpr int kDefaultThreads = 0;

const QStringList kThemeModes{QStringLiteral("system"), QStringLiteral("light"), QStringLiteral("dark")};

// A stored number: any numeric variant that is finite (strings, booleans, lists are not numbers).
std::optional<double> storedNumber(const QVariant& v) {
    switch (v.typeId()) {
    case QMetaType::Int:
    case QMetaType::UInt:
    case QMetaType::Long:
    case QMetaType::ULong:
    case QMetaType::LongLong:
    case QMetaType::ULongLong:
    case QMetaType::Float:
    case QMetaType::Double: {
        const double d = v.toDouble();
        if (std::isfinite(d)) return d;
        return std::nullopt;
    }
    default: return std::nullopt;
    }
}

std::optional<QString> storedString(const QVariant& v) {
    if (v.typeId() != QMetaType::QString) return std::nullopt;
    return v.toString();
}

int clampInt(double v, int low, int high) {
    return static_cast<int>(std::lround(std::clamp(v, static_cast<double>(low), static_cast<double>(high))));
}

template <class T>
bool assign(T& field, const T& value) {
    if (field == value) return false;
    field = value;
    return true;
}

} // namespace

SettingsController::SettingsController(StorageThread* store, QObject* parent) : QObject(parent), store_(store) {}

QStringList SettingsController::availableBackends() const {
    QStringList names{QStringLiteral("auto"), QStringLiteral("cpu")};
    if (latent::backend_kind_available(latent::BackendKind::Cuda)) names << QStringLiteral("cuda");
    return names;
}

int SettingsController::hardwareThreads() const {
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

void SettingsController::persist(const char* key, const QVariant& value) {
    if (!store_) return;
    const QString k = QString::fromLatin1(key);
    store_->write(StorageWrite::setSetting(k, value));
}

void SettingsController::setSystemPrompt(const QString& v) {
    if (locked("systemPrompt")) return;
    if (!assign(systemPrompt_, v)) return;
    persist("systemPrompt", v);
    emit changed();
}

void SettingsController::setTemperature(double v) {
    if (locked("temperature")) return;
    if (!std::isfinite(v) || !assign(temperature_, std::clamp(v, 0.0, 2.0))) return;
    persist("temperature", temperature_);
    emit changed();
}

void SettingsController::setTopP(double v) {
    if (locked("topP")) return;
    if (!std::isfinite(v) || !assign(topP_, std::clamp(v, 0.0, 1.0))) return;
    persist("topP", topP_);
    emit changed();
}

void SettingsController::setTopK(int v) {
    if (locked("topK")) return;
    if (!assign(topK_, std::clamp(v, 0, 1000))) return;
    persist("topK", topK_);
    emit changed();
}

void SettingsController::setMinP(double v) {
    if (locked("minP")) return;
    if (!std::isfinite(v) || !assign(minP_, std::clamp(v, 0.0, 1.0))) return;
    persist("minP", minP_);
    emit changed();
}

void SettingsController::setRepeatPenalty(double v) {
    if (locked("repeatPenalty")) return;
    if (!std::isfinite(v) || !assign(repeatPenalty_, std::clamp(v, 1.0, 2.0))) return;
    persist("repeatPenalty", repeatPenalty_);
    emit changed();
}

void SettingsController::setMaxNewTokens(int v) {
    if (locked("maxNewTokens")) return;
    if (!assign(maxNewTokens_, std::clamp(v, 1, 32768))) return;
    persist("maxNewTokens", maxNewTokens_);
    emit changed();
}

void SettingsController::setContextLength(int v) {
    if (locked("contextLength")) return;
    if (!assign(contextLength_, std::clamp(v, 256, 131072))) return;
    persist("contextLength", contextLength_);
    emit changed();
}

void SettingsController::setThreads(int v) {
    if (locked("threads")) return;
    if (!assign(threads_, std::clamp(v, 0, 256))) return;
    persist("threads", threads_);
    emit changed();
}

void SettingsController::setBackend(const QString& v) {
    if (locked("backend")) return;
    const QString name = v.trimmed().toLower();
    if (!availableBackends().contains(name) || !assign(backend_, name)) return;
    persist("backend", backend_);
    emit changed();
}

void SettingsController::setThemeMode(const QString& v) {
    if (locked("themeMode")) return;
    const QString mode = v.trimmed().toLower();
    if (!kThemeModes.contains(mode) || !assign(themeMode_, mode)) return;
    persist("themeMode", themeMode_);
    emit changed();
}

void SettingsController::resetToDefaults() {
    setSystemPrompt(QString());
    setTemperature(kDefaultTemperature);
    setTopP(kDefaultTopP);
    setTopK(kDefaultTopK);
    setMinP(kDefaultMinP);
    setRepeatPenalty(kDefaultRepeatPenalty);
    setMaxNewTokens(kDefaultMaxNewTokens);
    setContextLength(kDefaultContextLength);
    setThreads(kDefaultThreads);
    setBackend(kDefaultBackend);
    setThemeMode(kDefaultThemeMode);
    // The administrator's values are this workstation's defaults.
    for (auto it = systemDefaults_.constBegin(); it != systemDefaults_.constEnd(); ++it) setProperty(it.key().toLatin1().constData(), *it);
}

void SettingsController::applySystemConfig(const SystemConfig& config) {
    systemDefaults_ = config.settings;
    locked_ = config.locked;
    remoteEndpointsAllowed_ = config.allowRemoteEndpoints;
    applyValues(config.settings);
    emit changed();
}

void SettingsController::applyStored(const QVariantMap& stored) {
    QVariantMap unlocked = stored;
    for (const QString& name : locked_) unlocked.remove(name);
    applyValues(unlocked);
}

void SettingsController::applyValues(const QVariantMap& stored) {
    bool any = false;
    const auto number = [&](const char* key, double low, double high, double fallback, double& field) {
        const auto it = stored.constFind(QLatin1String(key));
        if (it == stored.constEnd()) return;
        const auto v = storedNumber(*it);
        any = assign(field, v ? std::clamp(*v, low, high) : fallback) || any;
    };
    const auto integer = [&](const char* key, int low, int high, int fallback, int& field) {
        const auto it = stored.constFind(QLatin1String(key));
        if (it == stored.constEnd()) return;
        const auto v = storedNumber(*it);
        any = assign(field, v ? clampInt(*v, low, high) : fallback) || any;
    };
    const auto choice = [&](const char* key, const QStringList& allowed, const QString& fallback, QString& field) {
        const auto it = stored.constFind(QLatin1String(key));
        if (it == stored.constEnd()) return;
        const auto v = storedString(*it);
        const QString name = v ? v->trimmed().toLower() : QString();
        any = assign(field, allowed.contains(name) ? name : fallback) || any;
    };

    if (const auto it = stored.constFind(QStringLiteral("systemPrompt")); it != stored.constEnd())
        any = assign(systemPrompt_, storedString(*it).value_or(QString())) || any;
    number("temperature", 0.0, 2.0, kDefaultTemperature, temperature_);
    number("topP", 0.0, 1.0, kDefaultTopP, topP_);
    integer("topK", 0, 1000, kDefaultTopK, topK_);
    number("minP", 0.0, 1.0, kDefaultMinP, minP_);
    number("repeatPenalty", 1.0, 2.0, kDefaultRepeatPenalty, repeatPenalty_);
    integer("maxNewTokens", 1, 32768, kDefaultMaxNewTokens, maxNewTokens_);
    integer("contextLength", 256, 131072, kDefaultContextLength, contextLength_);
    integer("threads", 0, 256, kDefaultThreads, threads_);
    choice("backend", availableBackends(), kDefaultBackend, backend_);
    choice("themeMode", kThemeModes, kDefaultThemeMode, themeMode_);
    if (any) emit changed();
}

LoadSettings SettingsController::loadSettings() const {
    LoadSettings s;
    s.contextLength = contextLength_;
    s.threads = threads_;
    s.backend = backend_;
    return s;
}

SamplingSettings SettingsController::samplingSettings() const {
    SamplingSettings s;
    s.temperature = temperature_;
    s.topP = topP_;
    s.topK = topK_;
    s.minP = minP_;
    s.repeatPenalty = repeatPenalty_;
    s.maxNewTokens = maxNewTokens_;
    return s;
}

QVariantMap SettingsController::toVariantMap() const {
    return {
        {QStringLiteral("systemPrompt"), systemPrompt_},   {QStringLiteral("temperature"), temperature_},
        {QStringLiteral("topP"), topP_},                   {QStringLiteral("topK"), topK_},
        {QStringLiteral("minP"), minP_},                   {QStringLiteral("repeatPenalty"), repeatPenalty_},
        {QStringLiteral("maxNewTokens"), maxNewTokens_},   {QStringLiteral("contextLength"), contextLength_},
        {QStringLiteral("threads"), threads_},             {QStringLiteral("backend"), backend_},
        {QStringLiteral("themeMode"), themeMode_},
    };
}

QString SettingsController::toJson() const {
    return QString::fromUtf8(QJsonDocument(QJsonObject::fromVariantMap(toVariantMap())).toJson(QJsonDocument::Compact));
}
