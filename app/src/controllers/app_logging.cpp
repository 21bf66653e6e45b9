#include "controllers/app_logging.h"

#include <QDir>
#include <QFile>

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <memory>
#include <vector>

namespace {

constexpr std::size_t kLogFileBytes = 5 * 1024 * 1024;
constexpr std::size_t kLogFiles = 3;

void forwardQtMessage(QtMsgType type, const QMessageLogContext& context, const QString& message) {
    const std::string text = message.toStdString();
    const char* category = context.category && std::string_view(context.category) != "default" ? context.category : nullptr;
    const auto log = [&](spdlog::level::level_enum level) {
        if (category) spdlog::log(level, "[{}] {}", category, text);
        else spdlog::log(level, "{}", text);
    };
    switch (type) {
    case QtDebugMsg: log(spdlog::level::debug); break;
    case QtInfoMsg: log(spdlog::level::info); break;
    case QtWarningMsg: log(spdlog::level::warn); break;
    case QtCriticalMsg: log(spdlog::level::err); break;
    case QtFatalMsg:
        log(spdlog::level::critical);
        spdlog::shutdown();
        std::abort();
    }
}

} // namespace

QString setupLogging(const QString& dataDir, bool verbose) {
    std::vector<spdlog::sink_ptr> sinks;
    sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    QString fileError;
    if (QDir().mkpath(dataDir)) {
        const QString path = QDir(dataDir).filePath(QStringLiteral("latent-chat.log"));
        try {
            sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
                QFile::encodeName(path).toStdString(), kLogFileBytes, kLogFiles));
        } catch (const spdlog::spdlog_ex& e) {
            fileError = QString::fromUtf8(e.what());
        }
    } else {
        fileError = QStringLiteral("cannot create %1").arg(dataDir);
    }

    auto logger = std::make_shared<spdlog::logger>("latent-chat", sinks.begin(), sinks.end());
    logger->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
    // A crash should not lose what led to it.
    logger->flush_on(verbose ? spdlog::level::debug : spdlog::level::info);
    spdlog::set_default_logger(logger);
    qInstallMessageHandler(forwardQtMessage);
    if (fileError.isEmpty()) return QString();
    spdlog::warn("logging to the console only: {}", fileError.toStdString());
    return QStringLiteral("The log file cannot be written in %1 (%2).").arg(QDir::toNativeSeparators(dataDir), fileError);
}
