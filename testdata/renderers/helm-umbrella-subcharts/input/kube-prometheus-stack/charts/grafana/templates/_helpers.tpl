{{- define "grafana.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end }}
{{- define "grafana.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end }}
