#include "controllers/endpoint_policy.h"

#include "controllers/system_config.h"

EndpointPolicy endpointPolicy(const SystemConfig& config) {
    return EndpointPolicy{config.allowRemoteEndpoints, config.path};
}

EndpointPolicy readEndpointPolicy() {
    return endpointPolicy(SystemConfig::load());
}
