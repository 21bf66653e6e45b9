#include "controllers/draft_controller.h"

#include "controllers/model_controller.h"
#include "controllers/settings_controller.h"
#include "inference/context_window.h"
#include "inference/inference_worker.h"

#include <QClipboard>
#include <QGuiApplication>
#include <QLocale>

#include <algorithm>

namespace {

constexpr qsizetype kPreviewLength = 160;

// Between the typed text and the pasted block, and between two pasted blocks.
const QString kSeparator = QStringLiteral("\n\n");

QString grouped(qsizetype n) { return QLocale::system().toString(qlonglong(n)); } // "1,048,576"

} // namespace

DraftController::DraftController(InferenceWorker* worker, ModelController* model, SettingsController* settings,
                                 QObject* parent)
    : QObject(parent), worker_(worker), model_(model), settings_(settings) {
    countTimer_.setSingleShot(true);
    countTimer_.setInterval(kCountDelayMs);
    connect(&countTimer_, &QTimer::timeout, this, &DraftController::startCount);
    connect(worker_, &InferenceWorker::tokensCounted, this, &DraftController::onCounted);
    // Another model or other settings change the count and the limit.
    connect(model_, &ModelController::stateChanged, this, &DraftController::scheduleCount);
    connect(settings_, &SettingsController::changed, this, &DraftController::scheduleCount);
}

QString DraftController::pastedPreview() const {
    return pasted_.left(kPreviewLength).simplified();
}

int DraftController::tokenLimit() const {
    const int context = model_->modelFacts().contextSize;
    return context - reservedAnswerTokens(settings_->maxNewTokens(), context);
}

bool DraftController::paste(int typedLength, int selectedLength) {
    if (!qobject_cast<QGuiApplication*>(QCoreApplication::instance())) return false;
    return insert(QGuiApplication::clipboard()->text(), typedLength, selectedLength);
}

bool DraftController::insert(const QString& text, int typedLength, int selectedLength) {
    const qsizetype total = qsizetype(typedLength) - selectedLength + pasted_.size() + text.size();
    if (total > kMaxMessageLength) {
        setRefusal(tr("Not pasted: the text has %1 characters, and a message holds at most %2 (%3 are already "
                      "written). Shorten it or send it in parts.")
                       .arg(grouped(text.size()), grouped(kMaxMessageLength),
                            grouped(typedLength - selectedLength + pasted_.size())));
        return true;
    }
    setRefusal(QString());
    if (qsizetype(typedLength) - selectedLength + text.size() <= kInlineLength) return false; // the text area copes
    setPasted(pasted_.isEmpty() ? text : pasted_ + kSeparator + text);
    return true;
}

void DraftController::typedChanged(const QString& typed) {
    if (typed == typed_) return; // a refused paste that was undone: the note stays
    typed_ = typed;
    if (!refusal_.isEmpty()) setRefusal(QString());
    scheduleCount();
}

QString DraftController::compose(const QString& typed) const {
    if (pasted_.isEmpty()) return typed;
    if (typed.trimmed().isEmpty()) return pasted_;
    return typed + kSeparator + pasted_;
}

QString DraftController::restore(const QString& text) {
    if (text.size() <= kInlineLength) return text;
    setPasted(text);
    return QString();
}

void DraftController::removePasted() { setPasted(QString()); }

void DraftController::clear() {
    typed_.clear();
    setPasted(QString());
    setRefusal(QString());
}

void DraftController::setPasted(QString text) {
    pasted_ = std::move(text);
    pastedLines_ = pasted_.isEmpty() ? 0 : int(pasted_.count(u'\n')) + 1;
    emit pastedChanged();
    scheduleCount();
}

void DraftController::setRefusal(const QString& text) {
    if (text == refusal_) return;
    refusal_ = text;
    emit refusalChanged();
}

void DraftController::scheduleCount() {
    changedSinceCount_ = true;
    if (tokens_ != -1) {
        tokens_ = -1;
        emit tokensChanged();
    }
    if (countInFlight_ == 0) countTimer_.start();
}

void DraftController::startCount() {
    changedSinceCount_ = false;
    const QString message = compose(typed_);
    if (!model_->loaded() || message.trimmed().isEmpty()) return; // nothing to count: tokens stay -1
    std::vector<ChatTurn> turns;
    const QString system = settings_->systemPrompt();
    if (!system.trimmed().isEmpty()) turns.push_back({ChatTurn::Role::System, system});
    turns.push_back({ChatTurn::Role::User, message});
    const quint64 id = nextCount_++;
    countInFlight_ = id;
    QMetaObject::invokeMethod(
        worker_, [worker = worker_, id, turns = std::move(turns)] { worker->countTokens(id, turns); },
        Qt::QueuedConnection);
}

void DraftController::onCounted(quint64 requestId, int tokens) {
    if (requestId != countInFlight_) return;
    countInFlight_ = 0;
    if (changedSinceCount_) { // the draft moved on while this count ran: count it again
        countTimer_.start();
        return;
    }
    tokens_ = tokens;
    emit tokensChanged();
}
