#include "inference/chat_engine.h"

#include "chat/chat_format.h"

#include <QByteArray>

ChatEngine::Split ChatEngine::splitReasoning(const QString& text, bool startedInReasoning) {
    const QByteArray utf8 = text.toUtf8();
    const latent::chat::ReasoningSplit split = latent::chat::split_reasoning(
        std::string_view(utf8.constData(), static_cast<size_t>(utf8.size())), startedInReasoning);
    Split result;
    result.reasoning = QString::fromStdString(split.reasoning);
    result.answer = QString::fromStdString(split.answer);
    result.reasoningOpen = split.has_reasoning && !split.reasoning_complete;
    return result;
}
