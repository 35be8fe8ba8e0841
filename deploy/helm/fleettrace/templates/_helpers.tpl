{{/* Object names: "<release>-fleettrace", cut to 63 characters for DNS labels. */}}
{{- define "fleettrace.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "fleettrace.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The name of one component's objects: (list $ "agent"). */}}
{{- define "fleettrace.component" -}}
{{- printf "%s-%s" (include "fleettrace.fullname" (index . 0)) (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object of a component: (list $ "agent"). */}}
{{- define "fleettrace.labels" -}}
{{- $ := index . 0 -}}
helm.sh/chart: {{ printf "%s-%s" $.Chart.Name $.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ $.Release.Service }}
app.kubernetes.io/version: {{ $.Chart.AppVersion | quote }}
{{ include "fleettrace.selectorLabels" . }}
{{- end -}}

{{/* Selector labels of a component: (list $ "agent"). */}}
{{- define "fleettrace.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "fleettrace.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* A component's image: (list $ .Values.agent.image). */}}
{{- define "fleettrace.image" -}}
{{- $ := index . 0 -}}
{{- $tag := default $.Chart.AppVersion $.Values.image.tag -}}
{{- if $.Values.image.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $.Values.image.registry) (index . 1) $tag -}}
{{- else -}}
{{- printf "%s:%s" (index . 1) $tag -}}
{{- end -}}
{{- end -}}

{{/* The controller Service's in-cluster DNS name. */}}
{{- define "fleettrace.controllerHost" -}}
{{- printf "%s.%s.svc" (include "fleettrace.component" (list . "controller")) .Release.Namespace -}}
{{- end -}}

{{- define "fleettrace.serviceAccountName" -}}
{{- if (index . 0).Values.serviceAccount.create -}}
{{- include "fleettrace.component" . -}}
{{- else -}}
default
{{- end -}}
{{- end -}}

{{- define "fleettrace.clickhouseSecret" -}}
{{- default (include "fleettrace.component" (list . "clickhouse")) .Values.clickhouse.existingSecret -}}
{{- end -}}

{{- define "fleettrace.kafkaSecret" -}}
{{- default (include "fleettrace.component" (list . "kafka-sasl")) .Values.kafka.sasl.existingSecret -}}
{{- end -}}

{{- define "fleettrace.caSecret" -}}
{{- default (include "fleettrace.component" (list . "ca")) .Values.ca.existingSecret -}}
{{- end -}}

{{- define "fleettrace.hasCA" -}}
{{- if or .Values.ca.existingSecret .Values.ca.cert -}}true{{- end -}}
{{- end -}}

{{/*
Whether the ClickHouse password of one user is set: (list $ "viewer").
With an existing Secret, a non-empty key; otherwise a non-empty password.
*/}}
{{- define "fleettrace.hasClickhousePassword" -}}
{{- $ := index . 0 -}}
{{- $user := index . 1 -}}
{{- $key := index $.Values.clickhouse.passwordKeys $user -}}
{{- if $.Values.clickhouse.existingSecret -}}
{{- if $key -}}true{{- end -}}
{{- else if and $key (index $.Values.clickhouse.passwords $user) -}}true{{- end -}}
{{- end -}}

{{/* An environment variable from the ClickHouse Secret: (list $ "viewer" "FLEETTRACE_CLICKHOUSE_VIEWER_PASSWORD"). */}}
{{- define "fleettrace.clickhousePasswordEnv" -}}
{{- $ := index . 0 -}}
{{- if include "fleettrace.hasClickhousePassword" (list $ (index . 1)) }}
- name: {{ index . 2 }}
  valueFrom:
    secretKeyRef:
      name: {{ include "fleettrace.clickhouseSecret" $ }}
      key: {{ index $.Values.clickhouse.passwordKeys (index . 1) }}
{{- end -}}
{{- end -}}

{{/* Brokers ingest reads from, comma-separated. */}}
{{- define "fleettrace.ingestBrokers" -}}
{{- join "," (default .Values.kafka.brokers .Values.ingest.brokers) -}}
{{- end -}}

{{/* The arguments of `fleettrace ingest` shared by the Deployment and the migration Job. */}}
{{- define "fleettrace.ingestArgs" -}}
- ingest
- --bus
- kafka
- --brokers
- {{ include "fleettrace.ingestBrokers" . | quote }}
{{- if .Values.kafka.tls }}
- --kafka-tls
{{- end }}
{{- with .Values.kafka.sasl.mechanism }}
- --kafka-sasl-mechanism
- {{ . | quote }}
- --kafka-sasl-user
- {{ required "kafka.sasl.user is required with kafka.sasl.mechanism" $.Values.kafka.sasl.user | quote }}
{{- end }}
- --partitions
- {{ .Values.ingest.partitions | quote }}
- --group
- {{ .Values.ingest.group | quote }}
- --store
- server
- --clickhouse-url
- {{ required "clickhouse.url is required" .Values.clickhouse.url | quote }}
- --clickhouse-user
- {{ .Values.clickhouse.ingestUser | quote }}
- --data
- /var/lib/fleettrace/ingest
- --retention-days
- {{ .Values.ingest.retentionDays | quote }}
{{- with .Values.ingest.flushInterval }}
- --flush-interval
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Security context of the non-root containers (controller, ingest, migration). */}}
{{- define "fleettrace.nonRootSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.nonRoot.runAsUser }}
runAsGroup: {{ .Values.nonRoot.runAsGroup }}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The controller's secrets as environment variables (list items; empty when none). */}}
{{- define "fleettrace.controllerEnv" -}}
{{- include "fleettrace.clickhousePasswordEnv" (list . "viewer" "FLEETTRACE_CLICKHOUSE_VIEWER_PASSWORD") }}
{{- include "fleettrace.clickhousePasswordEnv" (list . "admin" "FLEETTRACE_CLICKHOUSE_ADMIN_PASSWORD") }}
{{- if and .Values.kafka.brokers .Values.kafka.sasl.mechanism }}
- name: FLEETTRACE_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "fleettrace.kafkaSecret" . }}
      key: {{ .Values.kafka.sasl.passwordKey }}
{{- end }}
{{- end -}}

{{/* Secrets of ingest as environment variables: its ClickHouse and Kafka SASL passwords. */}}
{{- define "fleettrace.ingestEnv" -}}
{{- include "fleettrace.clickhousePasswordEnv" (list . "ingest" "FLEETTRACE_CLICKHOUSE_PASSWORD") }}
{{- if .Values.kafka.sasl.mechanism }}
- name: FLEETTRACE_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "fleettrace.kafkaSecret" . }}
      key: {{ .Values.kafka.sasl.passwordKey }}
{{- end }}
{{- end -}}
