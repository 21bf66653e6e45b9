#include "inference/endpoint_policy.h"

#include <QFileInfo>
#include <QSettings>

EndpointPolicy readEndpointPolicy() {
    EndpointPolicy policy;
    QString path = qEnvironmentVariable("LATENT_CHAT_POLICY");
    if (path.isEmpty()) path = QStringLiteral("/etc/xdg/latent-chat/policy.conf");
    if (!QFileInfo(path).isFile()) return policy;
    const QSettings file(path, QSettings::IniFormat);
    policy.source = path;
    const QVariant allow = file.value(QStringLiteral("Policy/AllowRemoteEndpoints"), true);
    const QString text = allow.toString().trimmed().toLower();
    policy.allowRemoteEndpoints = !(text == QLatin1String("false") || text == QLatin1String("0") || text == QLatin1String("no") || text == QLatin1String("off"));
    return policy;
}
