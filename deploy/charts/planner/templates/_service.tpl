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
{{/* Namespaced RBAC, in the release namespace only: the partition Leases (arks_common.sharing). Each replica holds
     a membership Lease named after its identity (so no resourceNames can list it) and the Leases of its share of
     the partitions; it lists them to count the live replicas, and deletes a long-expired membership Lease. */}}
{{- define "arks.namespacedRules" -}}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, list, create, update, delete]
{{- end -}}

{{- define "arks.env" -}}
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
