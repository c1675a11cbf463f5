{{/* What only the model-loader chart has; the other templates are shared by every Arks service chart. */}}

{{/* RBAC: ArksModels (finalizer, status; a watch of them for the Loaded gate), application status (Loaded), the model's PVC (created; a failed model's grown by a server-side apply, a patch) and download Job, the Job's Pods (to report the downloader's error text), Events, and the StorageClasses: the one an unbound claim names (get: to say when it does not exist), and all of them while a claim that names none waits (list: to say when the cluster has no default class); without these rules the model says only that it waits for a volume. */}}
{{- define "arks.rules" -}}
- apiGroups: [arks.ai]
  resources: [arksmodels]
  verbs: [get, list, watch, patch]
- apiGroups: [arks.ai]
  resources: [arksmodels/status]
  verbs: [patch]
- apiGroups: [arks.ai]
  resources: [arksmodels/finalizers]
  verbs: [update]
- apiGroups: [arks.ai]
  resources: [arksapplications]
  verbs: [get, list]
- apiGroups: [arks.ai]
  resources: [arksapplications/status]
  verbs: [patch]
- apiGroups: ['']
  resources: [persistentvolumeclaims]
  verbs: [get, create, patch]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, create, delete]
- apiGroups: ['']
  resources: [pods]
  verbs: [list]
- apiGroups: ['']
  resources: [events]
  verbs: [create, get, patch]
- apiGroups: [storage.k8s.io]
  resources: [storageclasses]
  verbs: [get, list]
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
- name: ARKS_DOWNLOADER_IMAGE
  value: {{ .Values.downloader.image | quote }}
- name: ARKS_DOWNLOAD_BACKOFF_LIMIT
  value: {{ .Values.downloader.backoffLimit | quote }}
{{- with .Values.downloader.serviceAccountName }}
- name: ARKS_DOWNLOAD_SERVICE_ACCOUNT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.huggingface.endpoint }}
- name: ARKS_HF_ENDPOINT
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
