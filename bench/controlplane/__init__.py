"""Control-plane benchmark: latency from `kubectl apply` to the LeaderWorkerSet and to Ready, throughput, memory."""
