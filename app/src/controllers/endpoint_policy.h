// What the administrator allows about remote endpoints: the one setting
//
//   [Policy]
//   AllowRemoteEndpoints=false           # default true: the app may use OpenAI-compatible endpoints
//
// of the system settings file (controllers/system_config.h: latent-chat/latent-chat.conf in
// $XDG_CONFIG_DIRS, /etc/xdg by default), read once at startup; users cannot change it from the app.
// With remote endpoints forbidden the app runs local models only: Settings shows the endpoint
// option disabled with the reason, and connecting is refused before anything is sent.
#pragma once

#include <QString>

struct SystemConfig;

struct EndpointPolicy {
    bool allowRemoteEndpoints = true;
    QString source; // the system settings file it came from, empty when there was none
};

// The policy of a system config already read.
EndpointPolicy endpointPolicy(const SystemConfig& config);
// The policy of SystemConfig::load().
EndpointPolicy readEndpointPolicy();
