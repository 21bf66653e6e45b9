#include "inference/sse_parser.h"

std::vector<SseEvent> SseParser::feed(const QByteArray& bytes) {
    std::vector<SseEvent> out;
    if (failed_) return out;
    for (const char c : bytes) {
        if (c == '\n' && lastWasCr_) { // the LF of a CRLF: the line already ended at the CR
            lastWasCr_ = false;
            continue;
        }
        lastWasCr_ = c == '\r';
        if (c == '\n' || c == '\r') {
            line(std::move(pending_), out);
            pending_.clear();
            continue;
        }
        pending_.append(c);
        if (pending_.size() > maxLine_) {
            failed_ = true;
            pending_.clear();
            return out;
        }
    }
    return out;
}

void SseParser::line(QByteArray text, std::vector<SseEvent>& out) {
    if (text.isEmpty()) { // dispatch
        if (hasData_) out.push_back(std::move(current_));
        current_ = SseEvent{};
        hasData_ = false;
        return;
    }
    if (text.startsWith(':')) return; // comment
    const qsizetype colon = text.indexOf(':');
    QByteArray field = colon < 0 ? text : text.left(colon);
    QByteArray value = colon < 0 ? QByteArray() : text.mid(colon + 1);
    if (value.startsWith(' ')) value.remove(0, 1);
    if (field == "data") {
        if (hasData_) current_.data.append('\n');
        current_.data.append(value);
        hasData_ = true;
    } else if (field == "event") {
        current_.event = QString::fromUtf8(value);
    }
}
