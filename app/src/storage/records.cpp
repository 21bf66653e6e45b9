#include "storage/records.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonValue>
#include <QtDebug>

#include <cstddef>

namespace {

// How an enum value is spelled in the database; one table per enum, looked up both ways.
template <class Enum>
struct EnumName {
    Enum value;
    const char* name;
};

constexpr EnumName<MessageRole> kRoleNames[] = {
    {MessageRole::System, "system"},
    {MessageRole::User, "user"},
    {MessageRole::Assistant, "assistant"},
};

constexpr EnumName<MessageStatus> kStatusNames[] = {
    {MessageStatus::Complete, "complete"},
    {MessageStatus::Streaming, "streaming"},
    {MessageStatus::Stopped, "stopped"},
    {MessageStatus::Error, "error"},
};

template <class Enum, std::size_t N>
QString nameOf(const EnumName<Enum> (&table)[N], Enum value) {
    for (const auto& entry : table)
        if (entry.value == value) return QString::fromLatin1(entry.name);
    return QString();
}

template <class Enum, std::size_t N>
std::optional<Enum> valueNamed(const EnumName<Enum> (&table)[N], const QString& name) {
    for (const auto& entry : table)
        if (name == QLatin1String(entry.name)) return entry.value;
    return std::nullopt;
}

} // namespace

QString messageRoleName(MessageRole role) { return nameOf(kRoleNames, role); }

std::optional<MessageRole> messageRoleFromName(const QString& name) { return valueNamed(kRoleNames, name); }

QString messageStatusName(MessageStatus status) { return nameOf(kStatusNames, status); }

std::optional<MessageStatus> messageStatusFromName(const QString& name) { return valueNamed(kStatusNames, name); }

namespace {

QJsonArray arrayFromJson(const QString& json, const char* what) {
    if (json.isEmpty()) return {};
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(json.toUtf8(), &error);
    if (error.error != QJsonParseError::NoError || !document.isArray()) {
        qWarning("storage: the stored %s are not a JSON array; none are shown", what);
        return {};
    }
    return document.array();
}

QString compact(const QJsonArray& array) { return QString::fromUtf8(QJsonDocument(array).toJson(QJsonDocument::Compact)); }

} // namespace

QString collectionsToJson(const QStringList& collections) { return compact(QJsonArray::fromStringList(collections)); }

QStringList collectionsFromJson(const QString& json) {
    QStringList names;
    for (const QJsonValue& value : arrayFromJson(json, "document collections"))
        if (value.isString() && !value.toString().isEmpty() && !names.contains(value.toString())) names << value.toString();
    return names;
}

QString sourcesToJson(const QList<SourceRecord>& sources) {
    QJsonArray array;
    for (const SourceRecord& source : sources) {
        array.append(QJsonObject{{QStringLiteral("path"), source.path},
                                 {QStringLiteral("page"), source.page},
                                 {QStringLiteral("start"), source.start},
                                 {QStringLiteral("end"), source.end},
                                 {QStringLiteral("text"), source.text}});
    }
    return compact(array);
}

QList<SourceRecord> sourcesFromJson(const QString& json) {
    QList<SourceRecord> sources;
    for (const QJsonValue& value : arrayFromJson(json, "sources")) {
        const QJsonObject object = value.toObject();
        SourceRecord source;
        source.path = object.value(QStringLiteral("path")).toString();
        source.page = object.value(QStringLiteral("page")).toInt(0);
        source.start = static_cast<qint64>(object.value(QStringLiteral("start")).toDouble(-1));
        source.end = static_cast<qint64>(object.value(QStringLiteral("end")).toDouble(-1));
        source.text = object.value(QStringLiteral("text")).toString();
        // A source the viewer could not open is left out rather than shown broken.
        if (source.path.isEmpty() || source.page < 0 || source.start < 0 || source.end < source.start) {
            qWarning("storage: a stored source is not well-formed; it is left out");
            continue;
        }
        sources.append(source);
    }
    return sources;
}
