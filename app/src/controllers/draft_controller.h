// The message being written in the composer, as far as it can be large: the size limit, long
// pastes, and the token count against the model's context.
//
// A paste that would make the text area hold more than kInlineLength characters is not put there (a text area lays
// out and repaints all of its text, which freezes the window for megabytes): it is held here as
// the "pasted text" block, shown by the composer as a chip, and sent after what is typed. A
// message holds at most kMaxMessageLength characters; a paste that would go over is refused
// with a message saying so, and nothing already written is changed.
//
// The draft's prompt tokens are counted on the inference thread (the engine's tokenizer, the
// model's chat format), kCountDelayMs after the last change, one count in flight at a time, so
// typing costs the GUI thread nothing in proportion to the text.
#pragma once

#include "inference/chat_engine.h"

#include <QObject>
#include <QString>
#include <QTimer>
#include <QtQml/qqmlregistration.h>

class InferenceWorker;
class ModelController;
class SettingsController;

class DraftController : public QObject {
    Q_OBJECT
    QML_ELEMENT
    QML_UNCREATABLE("owned by AppController")
    Q_PROPERTY(int maxLength READ maxLength CONSTANT)       // characters (UTF-16 units) in one message
    Q_PROPERTY(int inlineLength READ inlineLength CONSTANT) // most the text area is given by a paste
    Q_PROPERTY(int pastedLength READ pastedLength NOTIFY pastedChanged) // 0: no pasted-text block
    Q_PROPERTY(int pastedLines READ pastedLines NOTIFY pastedChanged)
    Q_PROPERTY(QString pastedPreview READ pastedPreview NOTIFY pastedChanged) // its start, on one line
    // Prompt tokens of the draft (system prompt + the message, in the model's chat format);
    // -1 while not known (no model, or a count is pending).
    Q_PROPERTY(int tokens READ tokens NOTIFY tokensChanged)
    Q_PROPERTY(int tokenLimit READ tokenLimit NOTIFY tokensChanged) // prompt tokens an answer leaves room for
    Q_PROPERTY(bool tooLong READ tooLong NOTIFY tokensChanged)      // tokens > tokenLimit: the model would refuse it
    // Why the last paste or text was refused; "" when nothing was. Cleared by the next change.
    Q_PROPERTY(QString refusal READ refusal NOTIFY refusalChanged)
public:
    static constexpr int kMaxMessageLength = 1 << 20; // 1,048,576 characters
    static constexpr int kInlineLength = 16 * 1024;
    static constexpr int kCountDelayMs = 300;

    DraftController(InferenceWorker* worker, ModelController* model, SettingsController* settings,
                    QObject* parent = nullptr);

    int maxLength() const { return kMaxMessageLength; }
    int inlineLength() const { return kInlineLength; }
    int pastedLength() const { return int(pasted_.size()); }
    int pastedLines() const { return pastedLines_; }
    QString pastedPreview() const;
    int tokens() const { return tokens_; }
    int tokenLimit() const;
    bool tooLong() const { return tokens_ >= 0 && tokens_ > tokenLimit(); }
    QString refusal() const { return refusal_; }

    // The clipboard's text pasted into a composer holding `typedLength` characters, `selectedLength`
    // of them selected (a paste replaces the selection). Returns true when the paste was handled
    // here (held as pasted text, or refused); false when the text area should paste it itself.
    Q_INVOKABLE bool paste(int typedLength, int selectedLength = 0);
    // The same for a given text (what paste() does with the clipboard's).
    Q_INVOKABLE bool insert(const QString& text, int typedLength, int selectedLength = 0);
    // The typed text changed: clears the refusal note and schedules a token count.
    Q_INVOKABLE void typedChanged(const QString& typed);
    // The whole message: the typed text, then the pasted-text block.
    Q_INVOKABLE QString compose(const QString& typed) const;
    // Puts a whole message back (a send that failed): returns what belongs in the text area; a
    // long message goes into the pasted-text block instead.
    Q_INVOKABLE QString restore(const QString& text);
    Q_INVOKABLE void removePasted();
    Q_INVOKABLE void clear(); // after a send: no pasted text, no refusal, count reset

signals:
    void pastedChanged();
    void tokensChanged();
    void refusalChanged();

private:
    void setPasted(QString text);
    void setRefusal(const QString& text);
    void scheduleCount();
    void startCount();
    void onCounted(quint64 requestId, int tokens);

    InferenceWorker* worker_;
    ModelController* model_;
    SettingsController* settings_;
    QString typed_;
    QString pasted_;
    int pastedLines_ = 0;
    int tokens_ = -1;
    QString refusal_;
    QTimer countTimer_;          // single shot: the count starts after a pause in typing
    quint64 nextCount_ = 1;
    quint64 countInFlight_ = 0;  // 0: none
    bool changedSinceCount_ = false;
};
