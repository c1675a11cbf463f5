{{/* What only the planner chart has; the other templates are shared by every Arks service chart. */}}

{{/* RBAC: reads applications, models and nodes (the largest node's GPUs, for a model volume only one node
     can mount); writes only the Precheck condition (status) and Events. */}}
{{- define "arks.rules" -}}
- apiGroups: ['']
  resources: [nodes]
  verbs: [list]
- apiGroups: [arks.ai]
  resources: [arksapplications]
  verbs: [get, list]
- apiGroups: [arks.ai]
  resources: [arksapplications/status]
  verbs: [patch]
- apiGroups: [arks.ai]
  resources: [arksmodels]
  verbs: [get]
- apiGroups: [arks.ai]
  resources: [arksendpoints]
  verbs: [get, list]
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
{{- /* set in extraEnv before this value existed (as docs/install.md once said): not named twice, which
Helm 4's server-side apply refuses and a strategic merge patch may mangle */}}
{{- if not (has "ARKS_RELIST_SECONDS" (include "arks.extraEnvNames" . | fromYamlArray)) }}
- name: ARKS_RELIST_SECONDS
  value: {{ .Values.relistSeconds | quote }}
{{- end }}
- name: ARKS_ROUTER_IMAGE
  value: {{ .Values.router.image | quote }}
- name: ARKS_RUNTIME_PROFILES_SET
  value: {{ .Values.runtimeProfiles.set | default "default" | quote }}
{{- if or .Values.runtimeProfiles.existingConfigMap .Values.runtimeProfiles.inline }}
- name: ARKS_RUNTIME_PROFILES_FILE
  value: {{ printf "/etc/arks/runtime-profiles/%s" .Values.runtimeProfiles.key | quote }}
{{- end }}
{{- end -}}

{{- define "arks.volumes" -}}
{{- if or .Values.runtimeProfiles.existingConfigMap .Values.runtimeProfiles.inline }}
- name: runtime-profiles
  configMap:
    name: {{ default (printf "%s-runtime-profiles" (include "arks.fullname" .)) .Values.runtimeProfiles.existingConfigMap }}
{{- end }}
{{- end -}}

{{- define "arks.volumeMounts" -}}
{{- if or .Values.runtimeProfiles.existingConfigMap .Values.runtimeProfiles.inline }}
- name: runtime-profiles
  mountPath: /etc/arks/runtime-profiles
  readOnly: true
{{- end }}
{{- end -}}

{{/* What, when it changes, must restart the pods (it is hashed into a pod annotation). */}}
{{- define "arks.config" -}}
{{- toYaml .Values.runtimeProfiles }}
{{- end -}}

{{- define "arks.extraEnvNames" -}}
{{- $names := list }}
{{- range .Values.extraEnv }}{{- $names = append $names .name }}{{- end }}
{{- toYaml $names }}
{{- end -}}
