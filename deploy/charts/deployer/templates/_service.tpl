{{/* What only the deployer chart has; the other templates are shared by every Arks service chart. */}}

{{/* RBAC: reads and server-side applies applications (the finalizer), their status, and the kinds a plan may hold — LeaderWorkerSets, Services, Deployments, and a PD router's ServiceAccount, Role and RoleBinding (an apply that creates needs create as well as patch); lists and watches those by the application's label (its cache of owned objects) to diff and prune, and deletes them when no longer planned or when the application goes; finalizers/update (of applications and of endpoints) lets it set blockOwnerDeletion on owner references to them where OwnerReferencesPermissionEnforcement is on. */}}
{{- define "arks.rules" -}}
- apiGroups: [arks.ai]
  resources: [arksapplications]
  verbs: [get, list, patch]
# ArksEndpoint: its router's objects and its status (the applications behind it, listed above)
- apiGroups: [arks.ai]
  resources: [arksendpoints]
  verbs: [get, list, watch]
- apiGroups: [arks.ai]
  resources: [arksendpoints/status]
  verbs: [patch]
# a PD router's account that may read pods (SGLang's discovery), and an endpoint router's: applied, listed and
# watched by the application label like every planned object, pruned and deleted with the application
- apiGroups: ['']
  resources: [serviceaccounts]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [get, list, watch, create, patch, delete]
# an endpoint's optional route through an existing Gateway API gateway (deleted when spec.gateway goes)
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, create, patch, delete]
# get, list, watch: the deployer's watch of the applications' pods (a pod of a steady application that starts
# terminating), and held so the deployer may grant them to an endpoint's router in its Role (RBAC lets no one grant
# more than it has); patch: the member label of an endpoint's explicit application list on the backend pods;
# create: only ever with dryRun=All, one pod of a LeaderWorkerSet checked before the set is applied (nothing is
# stored; the LWS controller creates the real pods)
- apiGroups: ['']
  resources: [pods]
  verbs: [get, list, watch, create, patch]
- apiGroups: [arks.ai]
  resources: [arksapplications/status]
  verbs: [patch]
- apiGroups: [arks.ai]
  resources: [arksapplications/finalizers, arksendpoints/finalizers]
  verbs: [update]
- apiGroups: [leaderworkerset.x-k8s.io]
  resources: [leaderworkersets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: ['']
  resources: [services]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: ['']
  resources: [events]
  verbs: [create, get, patch]
{{- end -}}

{{/* Namespaced RBAC in the release namespace: none for this service. */}}
{{/* Namespaced RBAC, in the release namespace only: the partition Leases (arks_common.sharing) — one per
     partition and one membership slot per replica, all with fixed names (16: the most partitions a bus may have).
     It lists them to count the live replicas; Kubernetes cannot restrict `create` or `list` by name. */}}
{{- define "arks.namespacedRules" -}}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, update]
  resourceNames:
  {{- range $i := until 16 }}
  - {{ printf "arks-%s-partition-%d" (include "arks.service" $) $i | quote }}
  - {{ printf "arks-%s-member-%d" (include "arks.service" $) $i | quote }}
  {{- end }}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [create, list]
{{- end -}}

{{- define "arks.env" -}}

{{- end -}}

{{- define "arks.volumes" -}}

{{- end -}}

{{- define "arks.volumeMounts" -}}

{{- end -}}

{{/* What, when it changes, must restart the pods (it is hashed into a pod annotation). */}}
{{- define "arks.config" -}}

{{- end -}}
