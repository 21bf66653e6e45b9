// Problems met before the main window exists — the data folder cannot be created or written,
// the lock file or the log file cannot be opened — collected by main() and shown in a small
// window of their own (StartupMessage.qml; no QtWidgets) once the engine runs. The app
// goes on: the history opens read-only when it can be read (the banner says so).
#pragma once

#include <QString>
#include <QStringList>

class QQmlEngine;

class StartupProblems {
public:
    void add(const QString& problem); // "" is ignored
    bool isEmpty() const { return problems_.isEmpty(); }
    const QStringList& problems() const { return problems_; }
    // Every problem, then what follows from them.
    QString text() const;
    // Opens the dialog; false (and a message on stderr) when it cannot be created.
    bool show(QQmlEngine& engine) const;

    // Why `dir` cannot hold the app's data (created when missing), or "" when it can.
    static QString dataDirProblem(const QString& dir);

private:
    QStringList problems_;
};
