#include "inference/remote_chat_engine.h"

#include "inference/sse_parser.h"

#include <QElapsedTimer>
#include <QEventLoop>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QTimer>
#include <QUrl>

#include <stdexcept>

namespace {

QString trimmedBase(const QString& url) {
    QString base = url.trimmed();
    while (base.endsWith(QLatin1Char('/'))) base.chop(1);
    return base;
}

QNetworkRequest makeRequest(const QString& url, const QString& apiKey, int timeoutMs) {
    QNetworkRequest request{QUrl(url)};
    request.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/json"));
    if (!apiKey.isEmpty()) request.setRawHeader("Authorization", "Bearer " + apiKey.toUtf8());
    request.setTransferTimeout(timeoutMs); // no bytes for this long: the reply fails with a timeout
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute, QNetworkRequest::ManualRedirectPolicy); // never send the key elsewhere
    return request;
}

// The error message of an OpenAI-shaped error body, or the body's start.
QString serverMessage(const QByteArray& body) {
    const QJsonObject error = QJsonDocument::fromJson(body).object().value(QStringLiteral("error")).toObject();
    const QString message = error.value(QStringLiteral("message")).toString();
    if (!message.isEmpty()) return message;
    return QString::fromUtf8(body.left(200)).simplified();
}

// A plain sentence for a failed request.
QString describeFailure(const QString& url, QNetworkReply::NetworkError error, int status, const QByteArray& body, bool timedOut) {
    const QString where = RemoteChatEngine::displayUrl(url);
    const QString said = serverMessage(body);
    const QString detail = said.isEmpty() ? QString() : QStringLiteral(": ") + said;
    if (timedOut || error == QNetworkReply::TimeoutError || error == QNetworkReply::OperationCanceledError) {
        return QStringLiteral("the endpoint %1 did not answer in time").arg(where);
    }
    if (status == 401 || status == 403) return QStringLiteral("the endpoint refused the API key (HTTP %1)%2").arg(status).arg(detail);
    if (status == 429) return QStringLiteral("the endpoint is busy (HTTP 429)%1; try again in a moment").arg(detail);
    if (status == 404) return QStringLiteral("not found at %1 (HTTP 404)%2; the URL should end in /v1").arg(where, detail);
    if (status > 0) return QStringLiteral("the endpoint answered HTTP %1%2").arg(status).arg(detail);
    switch (error) {
    case QNetworkReply::ConnectionRefusedError: return QStringLiteral("cannot reach %1: connection refused (is the server running?)").arg(where);
    case QNetworkReply::HostNotFoundError: return QStringLiteral("cannot reach %1: unknown host").arg(where);
    case QNetworkReply::RemoteHostClosedError: return QStringLiteral("%1 closed the connection").arg(where);
    case QNetworkReply::SslHandshakeFailedError: return QStringLiteral("cannot reach %1: the TLS certificate was refused").arg(where);
    default: return QStringLiteral("cannot reach %1 (network error %2)").arg(where).arg(static_cast<int>(error));
    }
}

// GET {base}/models: the raw model objects.
QJsonArray fetchModels(QNetworkAccessManager& network, const QString& base, const QString& apiKey, int timeoutMs) {
    const QString url = trimmedBase(base) + QStringLiteral("/models");
    QNetworkReply* reply = network.get(makeRequest(url, apiKey, timeoutMs));
    QEventLoop loop;
    QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    loop.exec();
    reply->deleteLater();
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    const QByteArray body = reply->isOpen() ? reply->readAll() : QByteArray();
    if (reply->error() != QNetworkReply::NoError || status != 200) throw std::runtime_error(describeFailure(url, reply->error(), status, body, false).toStdString());
    const QJsonValue data = QJsonDocument::fromJson(body).object().value(QStringLiteral("data"));
    if (!data.isArray()) throw std::runtime_error(QStringLiteral("%1 did not answer with a model list").arg(RemoteChatEngine::displayUrl(url)).toStdString());
    return data.toArray();
}

QString roleName(ChatTurn::Role role) {
    switch (role) {
    case ChatTurn::Role::System: return QStringLiteral("system");
    case ChatTurn::Role::User: return QStringLiteral("user");
    case ChatTurn::Role::Assistant: return QStringLiteral("assistant");
    }
    return QStringLiteral("user");
}

} // namespace

RemoteChatEngine::RemoteChatEngine() = default;
RemoteChatEngine::~RemoteChatEngine() = default;

bool RemoteChatEngine::isEndpoint(const QString& path) {
    return path.startsWith(QStringLiteral("http://"), Qt::CaseInsensitive) || path.startsWith(QStringLiteral("https://"), Qt::CaseInsensitive);
}

QString RemoteChatEngine::displayUrl(const QString& url) {
    return QUrl(url).toDisplayString(QUrl::RemoveUserInfo | QUrl::RemoveQuery | QUrl::RemoveFragment);
}

QStringList RemoteChatEngine::listModels(const QString& baseUrl, const QString& apiKey, int timeoutMs) {
    QNetworkAccessManager network;
    QStringList ids;
    for (const QJsonValue& m : fetchModels(network, baseUrl, apiKey, timeoutMs)) ids << m.toObject().value(QStringLiteral("id")).toString();
    return ids;
}

ModelFacts RemoteChatEngine::load(const QString& baseUrl, const LoadSettings& settings, const std::function<bool(double)>& progress) {
    unload();
    if (!isEndpoint(baseUrl)) throw std::runtime_error("an endpoint URL starts with http:// or https://");
    if (progress && !progress(0.1)) throw LoadCancelled();
    if (!network_) network_ = std::make_unique<QNetworkAccessManager>();
    const QJsonArray models = fetchModels(*network_, baseUrl, settings.apiKey, std::min(settings.remoteTimeoutMs, 30000));
    QJsonObject chosen;
    for (const QJsonValue& m : models) {
        const QJsonObject o = m.toObject();
        if (settings.remoteModel.isEmpty() || o.value(QStringLiteral("id")).toString() == settings.remoteModel) {
            chosen = o;
            break;
        }
    }
    if (chosen.isEmpty()) {
        throw std::runtime_error(QStringLiteral("%1 does not serve a model named \"%2\"").arg(displayUrl(baseUrl), settings.remoteModel).toStdString());
    }
    if (progress && !progress(1.0)) throw LoadCancelled();
    baseUrl_ = trimmedBase(baseUrl);
    apiKey_ = settings.apiKey;
    model_ = chosen.value(QStringLiteral("id")).toString();
    timeoutMs_ = settings.remoteTimeoutMs;
    contextSize_ = chosen.value(QStringLiteral("max_model_len")).toInt(0); // vLLM says; others do not
    if (contextSize_ <= 0) contextSize_ = settings.contextLength;
    loaded_ = true;

    ModelFacts facts;
    facts.path = displayUrl(baseUrl_);
    facts.name = model_;
    facts.architecture = QStringLiteral("remote");
    facts.contextSize = contextSize_;
    facts.trainedContext = contextSize_;
    facts.backend = QStringLiteral("remote");
    facts.backendNote = QStringLiteral("OpenAI-compatible endpoint %1").arg(displayUrl(baseUrl_));
    return facts;
}

void RemoteChatEngine::unload() {
    loaded_ = false;
    apiKey_.clear();
    model_.clear();
    contextSize_ = 0;
}

int RemoteChatEngine::countPromptTokens(const std::vector<ChatTurn>& turns) const {
    qsizetype bytes = 0;
    for (const ChatTurn& t : turns) bytes += t.content.toUtf8().size() + 8;
    return static_cast<int>(bytes / 3 + 8);
}

EngineResult RemoteChatEngine::generate(const std::vector<ChatTurn>& turns, const SamplingSettings& settings,
                                        const std::function<void(std::string_view)>& onPiece, const std::atomic<bool>* stop) {
    EngineResult result;
    if (!loaded_) {
        result.message = QStringLiteral("no endpoint connected");
        return result;
    }
    QJsonArray messages;
    for (const ChatTurn& t : turns) messages.append(QJsonObject{{QStringLiteral("role"), roleName(t.role)}, {QStringLiteral("content"), t.content}});
    QJsonObject body{{QStringLiteral("model"), model_},
                     {QStringLiteral("messages"), messages},
                     {QStringLiteral("stream"), true},
                     {QStringLiteral("stream_options"), QJsonObject{{QStringLiteral("include_usage"), true}}},
                     {QStringLiteral("temperature"), settings.temperature},
                     {QStringLiteral("top_p"), settings.topP},
                     {QStringLiteral("max_tokens"), settings.maxNewTokens}};
    // Sampling extensions vLLM, SGLang, llama-server and latent serve accept.
    if (settings.topK > 0) body.insert(QStringLiteral("top_k"), settings.topK);
    if (settings.minP > 0) body.insert(QStringLiteral("min_p"), settings.minP);
    if (settings.repeatPenalty != 1.0) body.insert(QStringLiteral("repetition_penalty"), settings.repeatPenalty);
    if (settings.seed != 0) body.insert(QStringLiteral("seed"), static_cast<qint64>(settings.seed & 0x7fffffffffffffffull));

    const QString url = baseUrl_ + QStringLiteral("/chat/completions");
    QNetworkRequest request = makeRequest(url, apiKey_, timeoutMs_);
    request.setRawHeader("Accept", "text/event-stream");
    QNetworkReply* reply = network_->post(request, QJsonDocument(body).toJson(QJsonDocument::Compact));

    SseParser parser;
    QByteArray errorBody;
    QString streamError;
    bool inReasoning = false, stopped = false, done = false;
    QString finishReason;
    const auto emitText = [&](const QString& text) {
        if (text.isEmpty()) return;
        const QByteArray utf8 = text.toUtf8();
        result.text += text;
        if (onPiece) onPiece(std::string_view(utf8.constData(), static_cast<size_t>(utf8.size())));
    };
    const auto handle = [&](const SseEvent& event) {
        if (event.data == "[DONE]") {
            done = true;
            return;
        }
        const QJsonObject chunk = QJsonDocument::fromJson(event.data).object();
        if (chunk.contains(QStringLiteral("error"))) {
            streamError = serverMessage(event.data);
            return;
        }
        const QJsonObject usage = chunk.value(QStringLiteral("usage")).toObject();
        if (!usage.isEmpty()) {
            result.promptTokens = usage.value(QStringLiteral("prompt_tokens")).toInt();
            result.generatedTokens = usage.value(QStringLiteral("completion_tokens")).toInt();
        }
        for (const QJsonValue& c : chunk.value(QStringLiteral("choices")).toArray()) {
            const QJsonObject choice = c.toObject();
            const QJsonObject delta = choice.value(QStringLiteral("delta")).toObject();
            QString reasoning = delta.value(QStringLiteral("reasoning_content")).toString();
            if (reasoning.isEmpty()) reasoning = delta.value(QStringLiteral("reasoning")).toString();
            const QString content = delta.value(QStringLiteral("content")).toString();
            if (!reasoning.isEmpty()) {
                if (!inReasoning) emitText(QStringLiteral("<think>\n"));
                inReasoning = true;
                emitText(reasoning);
            }
            if (!content.isEmpty()) {
                if (inReasoning) emitText(QStringLiteral("\n</think>\n\n"));
                inReasoning = false;
                emitText(content);
            }
            const QString finish = choice.value(QStringLiteral("finish_reason")).toString();
            if (!finish.isEmpty()) finishReason = finish;
        }
    };

    QEventLoop loop;
    QElapsedTimer clock;
    clock.start();
    bool first = true;
    QObject::connect(reply, &QNetworkReply::readyRead, &loop, [&] {
        const QByteArray bytes = reply->readAll();
        const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        if (status != 200) {
            if (errorBody.size() < 65536) errorBody += bytes;
            return;
        }
        for (const SseEvent& e : parser.feed(bytes)) {
            if (first) {
                result.timeToFirstTokenMs = static_cast<double>(clock.elapsed());
                first = false;
            }
            handle(e);
        }
        if (parser.failed()) {
            streamError = QStringLiteral("the endpoint sent a line longer than 16 MiB");
            reply->abort();
        }
    });
    QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    QTimer poll;
    poll.setInterval(20);
    QObject::connect(&poll, &QTimer::timeout, &loop, [&] {
        if (stop && stop->load() && !stopped) {
            stopped = true;
            reply->abort();
        }
    });
    poll.start();
    loop.exec();
    poll.stop();
    reply->deleteLater();
    if (inReasoning) emitText(QStringLiteral("\n</think>\n\n"));

    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    if (stopped) {
        result.end = EngineResult::End::Stopped;
    } else if (!streamError.isEmpty()) {
        result.end = EngineResult::End::Error;
        result.message = QStringLiteral("the endpoint reported an error: %1").arg(streamError);
    } else if (reply->error() != QNetworkReply::NoError || status != 200) {
        result.end = EngineResult::End::Error;
        result.message = describeFailure(url, reply->error(), status, errorBody + (reply->isOpen() ? reply->readAll() : QByteArray()), false);
    } else if (!done && finishReason.isEmpty()) {
        result.end = EngineResult::End::Error;
        result.message = QStringLiteral("the endpoint ended the answer early");
    } else {
        result.end = finishReason == QStringLiteral("length") ? EngineResult::End::MaxTokens : EngineResult::End::Complete;
    }
    const double seconds = static_cast<double>(clock.elapsed()) / 1000.0;
    if (result.generatedTokens > 1 && seconds > 0) result.generationTokensPerSecond = result.generatedTokens / seconds;
    return result;
}
