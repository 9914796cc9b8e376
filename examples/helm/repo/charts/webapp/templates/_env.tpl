{{- define "webapp.commonEnv" -}}
- name: RELEASE
  value: {{ .Release.Name | quote }}
- name: REVISION
  value: {{ .Release.Revision | quote }}
{{- end }}
