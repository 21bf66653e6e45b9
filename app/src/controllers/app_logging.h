// spdlog to a rotating file in the data dir (latent-chat.log, 5 MiB × 3) and to stderr; Qt's
// qDebug/qWarning/qCritical are routed to it too.
#pragma once

#include <QString>

void setupLogging(const QString& dataDir, bool verbose);
