// What the administrator allows: a system-wide policy file, read once at startup, that users
// cannot change from the app. Today it has one setting:
//
//   /etc/xdg/latent-chat/policy.conf     (LATENT_CHAT_POLICY=FILE overrides the path)
//   [Policy]
//   AllowRemoteEndpoints=false           # default true: the app may use OpenAI-compatible endpoints
//
// With remote endpoints forbidden the app runs local models only: Settings shows the endpoint
// option disabled with the reason, and connecting is refused before anything is sent.
#pragma once

#include <QString>

struct EndpointPolicy {
    bool allowRemoteEndpoints = true;
    QString source; // the file it came from, empty when there was none
};

EndpointPolicy readEndpointPolicy();
