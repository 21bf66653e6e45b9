// Server-Sent Events, as OpenAI-compatible servers stream completions (the WHATWG "event
// stream" format): lines end in LF, CRLF or CR; a blank line ends an event; "data:" lines are
// joined with "\n"; lines starting with ":" are comments (keep-alive pings) and are ignored;
// other fields ("event", "id", "retry") are kept or skipped. Bytes arrive in arbitrary pieces,
// so a partial line is held until its end arrives. A line longer than the limit is an error
// (a server that never ends a line must not fill memory).
#pragma once

#include <QByteArray>
#include <QString>

#include <vector>

struct SseEvent {
    QString event;   // the "event:" field, empty for the default "message"
    QByteArray data; // the joined "data:" lines
};

class SseParser {
public:
    explicit SseParser(qsizetype maxLineBytes = 16 * 1024 * 1024) : maxLine_(maxLineBytes) {}

    // Adds bytes; returns the events they complete. Sets failed() (and returns nothing more)
    // when a line exceeds the limit.
    std::vector<SseEvent> feed(const QByteArray& bytes);
    // The end of the stream: an event whose blank line never came is dropped, as the standard says.
    bool failed() const { return failed_; }

private:
    void line(QByteArray line, std::vector<SseEvent>& out);

    qsizetype maxLine_;
    QByteArray pending_;   // bytes of the unfinished line
    bool lastWasCr_ = false;
    SseEvent current_;
    bool hasData_ = false;
    bool failed_ = false;
};
