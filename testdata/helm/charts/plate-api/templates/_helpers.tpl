{{- define "plate-api.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- define "plate-api.labels" -}}
app: {{ include "plate-api.fullname" . }}
app.kubernetes.io/part-of: plate
environment: {{ .Values.env.SPRING_PROFILES_ACTIVE }}
{{- end }}
{{- define "plate-api.image" -}}
{{ .Values.ecr.accountId }}.dkr.ecr.{{ .Values.ecr.region }}.amazonaws.com/{{ .Values.image.name }}:{{ .Values.image.tag }}
{{- end }}
