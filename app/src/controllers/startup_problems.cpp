#include "controllers/startup_problems.h"

#include <QDir>
#include <QFile>
#include <QObject>
#include <QQmlComponent>
#include <QQmlEngine>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <unistd.h>

void StartupProblems::add(const QString& problem) {
    if (!problem.isEmpty() && !problems_.contains(problem)) problems_ << problem;
}

QString StartupProblems::text() const {
    return problems_.join(QStringLiteral("\n\n")) +
           QStringLiteral("\n\nLatent Chat goes on with what it can read: your chat history is shown when it can be "
                          "read, but new messages cannot be saved. Fix the folder's permissions (or start Latent Chat "
                          "with --data-dir <folder>) and restart it to save again.");
}

bool StartupProblems::show(QQmlEngine& engine) const {
    QQmlComponent component(&engine, QUrl(QStringLiteral("qrc:/qt/qml/LatentChat/StartupMessage.qml")));
    QObject* dialog = component.createWithInitialProperties({{QStringLiteral("heading"), QObject::tr("Latent Chat cannot save your data")},
                                                             {QStringLiteral("message"), text()},
                                                             {QStringLiteral("buttonText"), QObject::tr("Continue")}});
    if (!dialog) {
        std::fprintf(stderr, "%s\n%s\n", qPrintable(text()), qPrintable(component.errorString()));
        return false;
    }
    dialog->setParent(&engine); // lives as long as the engine
    return true;
}

QString StartupProblems::dataDirProblem(const QString& dir) {
    const QString shown = QDir::toNativeSeparators(dir);
    if (!QDir().mkpath(dir))
        return QStringLiteral("The data folder %1 cannot be created (%2).").arg(shown, QString::fromLocal8Bit(std::strerror(errno)));
    if (::access(QFile::encodeName(dir).constData(), W_OK) != 0)
        return QStringLiteral("The data folder %1 cannot be written (%2).").arg(shown, QString::fromLocal8Bit(std::strerror(errno)));
    return QString();
}
