{{/* What only the slo-scaler chart has; the other templates are shared by every Arks service chart. */}}

{{/* RBAC: reads autoscaled applications, their LeaderWorkerSets and leader Pods (to scrape); writes status and Events. */}}
{{- define "arks.rules" -}}
- apiGroups: [arks.ai]
  resources: [arksapplications]
  verbs: [get, list]
- apiGroups: [arks.ai]
  resources: [arksapplications/status]
  verbs: [patch]
- apiGroups: [leaderworkerset.x-k8s.io]
  resources: [leaderworkersets]
  verbs: [get]
- apiGroups: ['']
  resources: [pods]
  verbs: [list]
- apiGroups: ['']
  resources: [events]
  verbs: [create, get, patch]
{{- end -}}

{{/* Namespaced RBAC, in the release namespace only: the leader-election Lease (one replica decides at a time).
     Kubernetes cannot restrict `create` by name (the name is not in the request's URL), so create is allowed in this
     namespace and every other verb only on the one Lease. */}}
{{- define "arks.namespacedRules" -}}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, update]
  resourceNames: [{{ .Values.sloScaler.leaseName | quote }}]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [create]
{{- end -}}

{{- define "arks.env" -}}
- name: ARKS_LEASE_NAME
  value: {{ .Values.sloScaler.leaseName | quote }}
- name: ARKS_SCRAPE_INTERVAL_SECONDS
  value: {{ .Values.sloScaler.scrapeIntervalSeconds | quote }}
- name: ARKS_METRICS_SOURCE
  value: {{ .Values.sloScaler.metricsSource | quote }}
- name: ARKS_METRICS_PORT
  value: {{ .Values.sloScaler.metricsPort | quote }}
- name: ARKS_METRICS_PATH
  value: {{ .Values.sloScaler.metricsPath | quote }}
- name: ARKS_PROMETHEUS_URL
  value: {{ .Values.sloScaler.prometheusUrl | quote }}
- name: ARKS_SCRAPE_TIMEOUT_SECONDS
  value: {{ .Values.sloScaler.scrapeTimeoutSeconds | quote }}
- name: ARKS_CONCURRENT_STEPS
  value: {{ .Values.sloScaler.concurrentSteps | quote }}
- name: ARKS_CONCURRENT_SCRAPES
  value: {{ .Values.sloScaler.concurrentScrapes | quote }}
{{- /* set in extraEnv before this value existed (as docs/install.md once said): not named twice, which
Helm 4's server-side apply refuses and a strategic merge patch may mangle */}}
{{- if not (has "ARKS_RELIST_SECONDS" (include "arks.extraEnvNames" . | fromYamlArray)) }}
- name: ARKS_RELIST_SECONDS
  value: {{ .Values.sloScaler.relistSeconds | quote }}
{{- end }}
{{- with .Values.sloScaler.capacityPriorPerGroup }}
- name: ARKS_CAPACITY_PRIOR_PER_GROUP
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{- define "arks.volumes" -}}

{{- end -}}

{{- define "arks.volumeMounts" -}}

{{- end -}}

{{/* What, when it changes, must restart the pods (it is hashed into a pod annotation). */}}
{{- define "arks.config" -}}

{{- end -}}

{{- define "arks.extraEnvNames" -}}
{{- $names := list }}
{{- range .Values.extraEnv }}{{- $names = append $names .name }}{{- end }}
{{- toYaml $names }}
{{- end -}}
