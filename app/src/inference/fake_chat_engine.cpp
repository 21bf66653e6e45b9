#include "inference/fake_chat_engine.h"

#include <QElapsedTimer>
#include <QFileInfo>
#include <QRegularExpression>
#include <QThread>

#include <stdexcept>

namespace {

// The reply cut into pieces of one word each, every piece carrying the whitespace before its
// word, so that the pieces concatenate to exactly the reply.
std::vector<QByteArray> wordPieces(const QString& reply) {
    std::vector<QByteArray> pieces;
    qsizetype start = 0, i = 0;
    const qsizetype n = reply.size();
    while (i < n) {
        while (i < n && reply.at(i).isSpace()) ++i;
        while (i < n && !reply.at(i).isSpace()) ++i;
        pieces.push_back(reply.mid(start, i - start).toUtf8());
        start = i;
    }
    return pieces;
}

} // namespace

FakeChatEngine::FakeChatEngine() : FakeChatEngine(Script{}) {}

FakeChatEngine::FakeChatEngine(Script script) : script_(std::move(script)) {}

ModelFacts FakeChatEngine::load(const QString& path, const LoadSettings& settings,
                                const std::function<bool(double)>& progress) {
    loaded_ = false; // a load replaces whatever was loaded, also when it fails
    if (path.contains(QStringLiteral("fail"))) throw std::runtime_error("cannot open model: " + path.toStdString());
    for (const double p : {0.0, 0.5, 1.0}) {
        if (script_.loadDelayMs > 0) QThread::msleep(static_cast<unsigned long>(script_.loadDelayMs));
        if (progress && !progress(p)) throw LoadCancelled();
    }

    // Made-up facts in the proportions of DeepSeek-V2-Lite.
    ModelFacts facts;
    facts.path = path;
    facts.name = QFileInfo(path).fileName();
    facts.architecture = QStringLiteral("deepseek2");
    facts.quantization = QStringLiteral("Q4_K_M");
    facts.chatFormat = QStringLiteral("deepseek2 (fake)");
    facts.fileBytes = qint64{10'364'000'000};
    facts.totalParams = qint64{15'706'000'000};
    facts.activeParams = qint64{2'660'000'000};
    facts.trainedContext = 163840;
    facts.contextSize = script_.contextSize;
    facts.layers = 27;
    facts.experts = 64;
    facts.expertsUsed = 6;
    facts.sharedExperts = 2;
    facts.kvBytesPerTokenMla = qint64{27} * (512 + 64) * 2;
    facts.kvBytesPerTokenMha = qint64{27} * 16 * (192 + 128) * 2;
    facts.backend = QStringLiteral("fake");
    facts.backendNote = settings.backend == QStringLiteral("auto") ? QString() : QStringLiteral("fake engine ignores the backend choice");
    loaded_ = true;
    return facts;
}

void FakeChatEngine::unload() { loaded_ = false; }

int FakeChatEngine::countPromptTokens(const std::vector<ChatTurn>& turns) const {
    static const QRegularExpression whitespace(QStringLiteral("\\s+"));
    int tokens = 0;
    for (const ChatTurn& turn : turns) {
        tokens += 4 + static_cast<int>(turn.content.split(whitespace, Qt::SkipEmptyParts).size());
    }
    return tokens;
}

EngineResult FakeChatEngine::generate(const std::vector<ChatTurn>& turns, const SamplingSettings& /*settings*/,
                                      const std::function<void(std::string_view)>& onPiece,
                                      const std::atomic<bool>* stop) {
    lastTurns_ = turns;
    EngineResult result;
    if (!loaded_) {
        result.end = EngineResult::End::Error;
        result.message = QStringLiteral("no model is loaded");
        return result;
    }
    QString reply = script_.reply;
    if (reply.isEmpty()) {
        QString lastUser;
        for (const ChatTurn& turn : turns) {
            if (turn.role == ChatTurn::Role::User) lastUser = turn.content;
        }
        reply = QStringLiteral("Echo: ") + lastUser;
    }

    QElapsedTimer clock;
    clock.start();
    result.promptTokens = countPromptTokens(turns);
    result.end = EngineResult::End::Complete;
    const std::vector<QByteArray> pieces = wordPieces(reply);
    QByteArray text;
    for (size_t i = 0; i < pieces.size(); ++i) {
        if (i > 0 && script_.pieceDelayMs > 0) QThread::msleep(static_cast<unsigned long>(script_.pieceDelayMs));
        if (stop != nullptr && stop->load()) {
            result.end = EngineResult::End::Stopped;
            break;
        }
        if (i == 0) result.timeToFirstTokenMs = static_cast<double>(clock.nsecsElapsed()) / 1e6;
        text += pieces[i];
        ++result.generatedTokens;
        if (onPiece) onPiece(std::string_view(pieces[i].constData(), static_cast<size_t>(pieces[i].size())));
        if (!script_.failWith.isEmpty()) {
            result.end = EngineResult::End::Error;
            result.message = script_.failWith;
            break;
        }
    }
    result.text = QString::fromUtf8(text);
    const double seconds = static_cast<double>(clock.nsecsElapsed()) / 1e9;
    if (seconds > 0.0) result.generationTokensPerSecond = result.generatedTokens / seconds;
    result.promptTokensPerSecond = 1000.0;
    return result;
}

std::vector<ChatTurn> FakeChatEngine::lastTurns() const { return lastTurns_; }
