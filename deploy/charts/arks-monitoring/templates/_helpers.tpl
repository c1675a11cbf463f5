{{- define "arks-monitoring.fullname" -}}
{{- printf "arks-monitoring" -}}
{{- end -}}

{{- define "arks-monitoring.labels" -}}
app.kubernetes.io/name: arks-monitoring
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: arks
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}
