// Settings an administrator gives every user of a workstation: one INI file,
// latent-chat/latent-chat.conf, found in $XDG_CONFIG_DIRS (default /etc/xdg, Qt's and
// freedesktop.org's search path for system configuration; the first file found wins). The
// user's own ~/.config is never read for it. Layout (docs/deployment.md,
// resources/deployment/latent-chat.conf):
//
//   [Settings]   any SettingsController property by name (pre-set for everyone), plus
//                Locked=<names>: those take this value whatever the user chose, and Settings
//                shows them as set by the administrator
//   [Models]     SharedFolders=<folders>: .gguf models every user sees (read-only is fine);
//                /usr/share/latent-chat/models is always one of them
//   [Policy]     AllowRemoteEndpoints=<bool> (default true)
//                AllowServing=<bool> (default true): Settings may serve the loaded model to other
//                apps on this computer (controllers/serve_controller.h)
//
// The file is untrusted input too: unknown keys, names in Locked without a value, and values that
// are not numbers where numbers belong are listed in `problems` (logged at start) and ignored.
#pragma once

#include <QString>
#include <QStringList>
#include <QVariantMap>

struct SystemConfig {
    QString path;                   // the file read; "" when there is none
    QVariantMap settings;           // [Settings] values, typed as SettingsController::applyStored expects
    QStringList locked;             // setting names whose value is fixed (each has a value in `settings`)
    QStringList sharedModelFolders; // absolute folders, the built-in one first, no duplicates
    bool allowRemoteEndpoints = true;
    bool allowServing = true;
    QStringList problems;           // what was ignored and why, one line each

    // The built-in shared model folder, always searched.
    static QString defaultSharedModelFolder() { return QStringLiteral("/usr/share/latent-chat/models"); }
    // Reads the first latent-chat/latent-chat.conf of $XDG_CONFIG_DIRS (or /etc/xdg when unset);
    // without one, an empty config (no settings, the built-in model folder, remote allowed).
    static SystemConfig load();
    // Reads one file (a missing or unreadable file gives the empty config with a problem).
    static SystemConfig read(const QString& path);
    // The directories load() searches, in order.
    static QStringList searchDirs();
};
