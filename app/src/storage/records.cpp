#include "storage/records.h"

namespace {

struct RoleName {
    MessageRole role;
    const char* name;
};
constexpr RoleName kRoleNames[] = {
    {MessageRole::System, "system"},
    {MessageRole::User, "user"},
    {MessageRole::Assistant, "assistant"},
};

struct StatusName {
    MessageStatus status;
    const char* name;
};
constexpr StatusName kStatusNames[] = {
    {MessageStatus::Complete, "complete"},
    {MessageStatus::Streaming, "streaming"},
    {MessageStatus::Stopped, "stopped"},
    {MessageStatus::Error, "error"},
};

} // namespace

QString messageRoleName(MessageRole role) {
    for (const auto& entry : kRoleNames)
        if (entry.role == role) return QString::fromLatin1(entry.name);
    return QString();
}

std::optional<MessageRole> messageRoleFromName(const QString& name) {
    for (const auto& entry : kRoleNames)
        if (name == QLatin1String(entry.name)) return entry.role;
    return std::nullopt;
}

QString messageStatusName(MessageStatus status) {
    for (const auto& entry : kStatusNames)
        if (entry.status == status) return QString::fromLatin1(entry.name);
    return QString();
}

std::optional<MessageStatus> messageStatusFromName(const QString& name) {
    for (const auto& entry : kStatusNames)
        if (name == QLatin1String(entry.name)) return entry.status;
    return std::nullopt;
}
