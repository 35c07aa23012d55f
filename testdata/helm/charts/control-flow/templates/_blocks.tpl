{{- define "cf.greet" -}}
hello {{ .name | default "stranger" }}
{{- end -}}
{{- define "cf.overridden" -}}from define{{- end -}}
