// Wrapper module: builds gateway-api from sigs.k8s.io/gateway-api v1.6.3 (see tools/localcluster/build.py).
module arks.local/localcluster/gateway-api

go 1.26.0

require sigs.k8s.io/gateway-api v1.6.3
