{{/* Chart name, overridable. */}}
{{- define "kaapana-executor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name of the namespaced objects. */}}
{{- define "kaapana-executor.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "kaapana-executor.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "kaapana-executor.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
Name of the RBAC objects. They live outside the release namespace (pod namespaces, cluster
scope), so the release namespace is part of the name: two releases never fight over one.
*/}}
{{- define "kaapana-executor.rbacName" -}}
{{- printf "%s-%s" .Release.Namespace (include "kaapana-executor.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kaapana-executor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "kaapana-executor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The ServiceAccount the Airflow scheduler and api-server run as. */}}
{{- define "kaapana-executor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kaapana-executor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* [kaapana_executor] namespace: the namespace of the pods (default: the release's). */}}
{{- define "kaapana-executor.podNamespace" -}}
{{- default .Release.Namespace .Values.namespace }}
{{- end }}

{{/* Every namespace pods may run in, as a JSON list (use with fromJsonArray). */}}
{{- define "kaapana-executor.podNamespaces" -}}
{{- prepend .Values.allowedNamespaces (include "kaapana-executor.podNamespace" .) | uniq | toJson }}
{{- end }}

{{/*
One option value as ExecutorSettings parses it: lists of strings comma-separated, lists of
objects (pod_env) and maps as JSON, null as empty. Whole numbers are printed without exponent
(YAML numbers reach templates as floats, and "1e+06" is no int).
*/}}
{{- define "kaapana-executor.optionValue" -}}
{{- if and (kindIs "slice" .) (gt (len .) 0) (kindIs "map" (index . 0)) }}{{ toJson . }}
{{- else if kindIs "slice" . }}{{ join "," . }}
{{- else if kindIs "map" . }}{{ toJson . }}
{{- else if kindIs "invalid" . }}
{{- else if and (kindIs "float64" .) (eq . (floor .)) }}{{ int64 . }}
{{- else }}{{ toString . }}
{{- end }}
{{- end }}

{{/*
The [kaapana_executor] options as a JSON object of strings: `config`, plus the options the
RBAC rules are derived from, which come from the top-level values only (so the settings and
the permissions cannot disagree).
*/}}
{{- define "kaapana-executor.settings" -}}
{{- range $option := list "namespace" "allowed_namespaces" "image_pull_secrets" }}
{{- if hasKey $.Values.config $option }}
{{- fail (printf "config.%s: set it with the top-level value (namespace, allowedNamespaces, imagePullSecrets); the RBAC rules follow from it" $option) }}
{{- end }}
{{- end }}
{{- $settings := dict
  "namespace" (include "kaapana-executor.podNamespace" .)
  "allowed_namespaces" (join "," .Values.allowedNamespaces)
  "image_pull_secrets" (join "," .Values.imagePullSecrets) }}
{{- range $option, $value := .Values.config }}
{{- $_ := set $settings $option (include "kaapana-executor.optionValue" $value) }}
{{- end }}
{{- toJson $settings }}
{{- end }}
