// A message window for the moments when there is no main window to put it in: at start, before
// Main.qml is loaded, or in a second start that exits. Blocks until the user closes it.
#pragma once

#include <QString>

// Shows ui/StartupMessage.qml and runs the event loop until it is closed; returns at once on
// the offscreen and minimal platforms, where nobody could see or close it (the caller prints
// the message on stderr as well). Needs a QGuiApplication.
void showStartupMessage(const QString& heading, const QString& message);
