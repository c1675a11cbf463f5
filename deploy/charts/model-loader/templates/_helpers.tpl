{{/*
Shared by every Arks service chart (deploy/charts/<service>/templates/_helpers.tpl is the same file in each;
tests/unit/test_permissions.py checks that they stay identical). The service-specific parts live in
_service.tpl: "arks.rules" (the ClusterRole's rules), "arks.env", "arks.volumes", "arks.volumeMounts".
*/}}

{{- define "arks.service" -}}
{{- .Chart.Name -}}
{{- end -}}

{{- define "arks.fullname" -}}
{{- default (printf "arks-%s" .Chart.Name) .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "arks.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "arks.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "arks.selectorLabels" -}}
app.kubernetes.io/name: {{ include "arks.fullname" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "arks.labels" -}}
{{ include "arks.selectorLabels" . }}
app.kubernetes.io/component: {{ include "arks.service" . }}
app.kubernetes.io/part-of: arks
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "arks.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* NATS connection and credentials: a password from an existing Secret, or a creds file from a Secret. */}}
{{- define "arks.natsEnv" -}}
- name: ARKS_NATS_URL
  value: {{ required "nats.url is required" .Values.nats.url | quote }}
{{- if eq .Values.nats.auth.mode "password" }}
- name: ARKS_NATS_USER
  value: {{ required "nats.user is required" .Values.nats.user | quote }}
- name: ARKS_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required "nats.auth.existingSecret is required" .Values.nats.auth.existingSecret | quote }}
      key: {{ default (include "arks.service" .) .Values.nats.auth.passwordKey | quote }}
{{- else if eq .Values.nats.auth.mode "creds" }}
- name: ARKS_NATS_CREDS_FILE
  value: {{ printf "/etc/arks/nats/%s" .Values.nats.auth.credsKey | quote }}
{{- end }}
{{- end -}}
