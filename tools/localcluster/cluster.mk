# Local Kubernetes control plane (tools/localcluster): real etcd/kube-apiserver/controller-manager/scheduler,
# KWOK fake GPU nodes and LeaderWorkerSet, built once from Go modules into $(ARKS_CACHE)/bin.
# Included by the root Makefile (UV, STAMP and ARKS_CACHE come from there).
.PHONY: cluster-build cluster-up cluster-down cluster-status cluster-env

cluster-build: $(STAMP) ## build the cluster binaries from Go modules (cached; cold build takes minutes)
	$(UV) run --frozen python -m arks_localcluster build

cluster-up: $(STAMP) ## start the local cluster in the background (kubeconfig in $ARKS_CACHE/run/kubeconfig)
	$(UV) run --frozen python -m arks_localcluster up

cluster-down: $(STAMP) ## stop the local cluster, leaving no process
	$(UV) run --frozen python -m arks_localcluster down

cluster-status: $(STAMP) ## show the local cluster's processes and nodes
	$(UV) run --frozen python -m arks_localcluster status

cluster-env: $(STAMP) ## print `export KUBECONFIG=... PATH=...` for the local cluster (eval "$$(make -s cluster-env)")
	@$(UV) run --frozen python -m arks_localcluster env
