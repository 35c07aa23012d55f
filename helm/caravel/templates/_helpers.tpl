{{/*
Helpers shared by the templates. Component helpers take a dict:
  context:   the root context ($)
  component: repo-server | application-controller | api-server | redis | secret-init
  values:    the component's values (e.g. .Values.repoServer), where needed
*/}}

{{/* Chart name, overridable with nameOverride. */}}
{{- define "caravel.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name prefixing every resource: fullnameOverride, else the release name
when it contains the chart name, else <release>-<chart>.
*/}}
{{- define "caravel.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name and version, as in the helm.sh/chart label. */}}
{{- define "caravel.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of a component's objects: <fullname>-<component>. */}}
{{- define "caravel.componentName" -}}
{{- printf "%s-%s" (include "caravel.fullname" .context) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of a component; never change them (selectors are immutable). */}}
{{- define "caravel.selectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-%s" (include "caravel.name" .context) .component | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
{{- end }}

{{/* Labels of every object of a component. */}}
{{- define "caravel.labels" -}}
helm.sh/chart: {{ include "caravel.chart" .context }}
{{ include "caravel.selectorLabels" . }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: caravel
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
{{- end }}

{{/* Labels of a component's pods: its labels plus values.podLabels. */}}
{{- define "caravel.podLabels" -}}
{{ include "caravel.labels" . }}
{{- with .values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* ServiceAccount name of a component with a values.serviceAccount block. */}}
{{- define "caravel.serviceAccountName" -}}
{{- if .values.serviceAccount.create }}
{{- default (include "caravel.componentName" .) .values.serviceAccount.name }}
{{- else }}
{{- default "default" .values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference from an image block: dict "context" $ "image" .Values.x.image. */}}
{{- define "caravel.image" -}}
{{- printf "%s:%s" .image.repository (default .context.Chart.AppVersion .image.tag | toString) }}
{{- end }}

{{/* imagePullSecrets of every pod (root context). */}}
{{- define "caravel.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Pod securityContext of every pod (root context). */}}
{{- define "caravel.podSecurityContext" -}}
securityContext:
  {{- toYaml .Values.global.podSecurityContext | nindent 2 }}
{{- end }}

{{/* Container securityContext of every container (root context). */}}
{{- define "caravel.containerSecurityContext" -}}
securityContext:
  {{- toYaml .Values.global.containerSecurityContext | nindent 2 }}
{{- end }}

{{/* Readiness and liveness probes on GET /healthz of the port named "health". */}}
{{- define "caravel.healthProbes" -}}
readinessProbe:
  httpGet:
    path: /healthz
    port: health
  initialDelaySeconds: 5
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
livenessProbe:
  httpGet:
    path: /healthz
    port: health
  initialDelaySeconds: 10
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 6
{{- end }}

{{/*
Scheduling of a component's pods: nodeSelector, tolerations, affinity and
topologySpreadConstraints (a constraint without labelSelector selects the
component's pods).
*/}}
{{- define "caravel.podScheduling" -}}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- range $constraint := . }}
  - {{ toYaml $constraint | nindent 4 | trim }}
    {{- if not $constraint.labelSelector }}
    labelSelector:
      matchLabels:
        {{- include "caravel.selectorLabels" $ | nindent 8 }}
    {{- end }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
Redis URL of the services (root context). Fails unless exactly one of the
bundled Redis and externalRedis.url is configured.
*/}}
{{- define "caravel.redisUrl" -}}
{{- if and .Values.redis.enabled .Values.externalRedis.url }}
{{- fail "redis.enabled and externalRedis.url are both set: set redis.enabled=false to use the external Redis, or clear externalRedis.url to use the bundled one" }}
{{- else if .Values.redis.enabled }}
{{- printf "redis://%s:6379/0" (include "caravel.componentName" (dict "context" . "component" "redis")) }}
{{- else if .Values.externalRedis.url }}
{{- .Values.externalRedis.url }}
{{- else }}
{{- fail "no Redis configured: keep redis.enabled=true for the bundled Redis, or set externalRedis.url (and externalRedis.existingSecret) for your own" }}
{{- end }}
{{- end }}

{{/* Secret holding the Redis password, empty when there is none (root context). */}}
{{- define "caravel.redisSecretName" -}}
{{- if .Values.redis.enabled }}
{{- include "caravel.componentName" (dict "context" . "component" "redis") }}
{{- else }}
{{- .Values.externalRedis.existingSecret }}
{{- end }}
{{- end }}

{{/* Key of the Redis password in its Secret (root context). */}}
{{- define "caravel.redisSecretKey" -}}
{{- if .Values.redis.enabled }}auth{{ else }}{{ .Values.externalRedis.existingSecretPasswordKey }}{{ end }}
{{- end }}

{{/* Secret holding the generated cache signing key (root context). */}}
{{- define "caravel.secretName" -}}
{{- printf "%s-secret" (include "caravel.fullname" .) }}
{{- end }}

{{/* Environment shared by the three services (root context). */}}
{{- define "caravel.commonEnv" -}}
- name: CARAVEL_REDIS_URL
  value: {{ include "caravel.redisUrl" . | quote }}
{{- with include "caravel.redisSecretName" . }}
- name: CARAVEL_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ include "caravel.redisSecretKey" $ }}
{{- end }}
{{- with .Values.redisKeyPrefix }}
- name: CARAVEL_REDIS_KEY_PREFIX
  value: {{ . | quote }}
{{- end }}
{{ include "caravel.telemetryEnv" . }}
{{- end }}

{{/* Logging and tracing environment of every Caravel container (root context). */}}
{{- define "caravel.telemetryEnv" -}}
- name: CARAVEL_LOG_FORMAT
  value: {{ .Values.logging.format | quote }}
- name: RUST_LOG
  value: {{ .Values.logging.level | quote }}
{{- with .Values.otlp.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.otlp.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
PodDisruptionBudget of a component (dict with values); nothing unless
values.podDisruptionBudget.enabled. minAvailable, when set, wins over
maxUnavailable. policy/v1 from Kubernetes 1.21 (the only version 1.25+
serves), policy/v1beta1 before. Chosen by the cluster's version rather than
its API list: `helm template`, Argo CD and Caravel add the cluster's API
versions to Helm's built-in list, which always holds "policy/v1".
*/}}
{{- define "caravel.podDisruptionBudget" -}}
{{- $pdb := .values.podDisruptionBudget }}
{{- if $pdb.enabled }}
{{- $min := toString $pdb.minAvailable }}
{{- $max := toString $pdb.maxUnavailable }}
{{- if and (eq $min "") (eq $max "") }}
{{- fail (printf "%s: podDisruptionBudget.enabled needs minAvailable or maxUnavailable" .component) }}
{{- end }}
{{- if semverCompare ">=1.21-0" .context.Capabilities.KubeVersion.Version }}
apiVersion: policy/v1
{{- else }}
apiVersion: policy/v1beta1
{{- end }}
kind: PodDisruptionBudget
metadata:
  name: {{ include "caravel.componentName" . }}
  namespace: {{ .context.Release.Namespace }}
  labels:
    {{- include "caravel.labels" . | nindent 4 }}
spec:
  {{- if ne $min "" }}
  minAvailable: {{ $pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "caravel.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}
