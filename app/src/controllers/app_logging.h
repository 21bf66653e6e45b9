// spdlog to a rotating file in the data dir (latent-chat.log, 5 MiB × 3) and to stderr; Qt's
// qDebug/qWarning/qCritical are routed to it too.
#pragma once

#include <QString>

// Returns why the log file cannot be written ("" when it can); the console log works regardless.
QString setupLogging(const QString& dataDir, bool verbose);
