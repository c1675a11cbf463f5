{{/* What only the watcher chart has; the other templates are shared by every Arks service chart. */}}

{{/* RBAC: list+watch only: it reads, it never writes (not even Events). */}}
{{- define "arks.rules" -}}
- apiGroups: [arks.ai]
  resources: [arksapplications, arksmodels, arksendpoints]
  verbs: [list, watch]
- apiGroups: [leaderworkerset.x-k8s.io]
  resources: [leaderworkersets]
  verbs: [list, watch]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [list, watch]
- apiGroups: ['']
  resources: [persistentvolumeclaims]
  verbs: [list, watch]
{{- end -}}

{{/* Namespaced RBAC in the release namespace: none for this service. */}}
{{- define "arks.namespacedRules" -}}
{{- end -}}

{{- define "arks.env" -}}
- name: ARKS_RESYNC_SECONDS
  value: {{ .Values.watcher.resyncSeconds | quote }}
- name: ARKS_WATCH_TIMEOUT_SECONDS
  value: {{ .Values.watcher.watchTimeoutSeconds | quote }}
{{- end -}}

{{- define "arks.volumes" -}}

{{- end -}}

{{- define "arks.volumeMounts" -}}

{{- end -}}

{{/* What, when it changes, must restart the pods (it is hashed into a pod annotation). */}}
{{- define "arks.config" -}}

{{- end -}}
