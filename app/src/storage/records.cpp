#include "storage/records.h"

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
