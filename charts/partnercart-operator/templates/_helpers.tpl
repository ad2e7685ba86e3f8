{{/* The labels of every object. */}}
{{- define "partnercart.labels" -}}
app.kubernetes.io/name: partnercart-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The manager's Pods, as config/manager selects them. */}}
{{- define "partnercart.selectorLabels" -}}
control-plane: controller-manager
app.kubernetes.io/name: partnercart-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "partnercart.serviceAccountName" -}}
{{ .Values.namePrefix }}controller-manager
{{- end }}

{{- define "partnercart.credentialsNamespace" -}}
{{ .Values.credentialsNamespace | default .Release.Namespace }}
{{- end }}

{{- define "partnercart.receiptNamespace" -}}
{{ .Values.receiptNamespace | default .Release.Namespace }}
{{- end }}

{{/* The ServiceAccount as a subject of a binding. */}}
{{- define "partnercart.managerSubject" -}}
- kind: ServiceAccount
  name: {{ include "partnercart.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}

{{/*
partnercart.objects renders the objects of a file in files/ (a copy of one under config/,
kept in sync by `make manifests`): metadata.name gets namePrefix, the chart's labels are
added, and a binding's spec.policyName follows its policy's name, as config/default's
kustomize namePrefix and config/policy/kustomizeconfig.yaml do.
*/}}
{{- define "partnercart.objects" -}}
{{- $root := .root }}
{{- range $doc := regexSplit "(?m)^---[ \t]*$" ($root.Files.Get .path) -1 }}
{{- $obj := fromYaml $doc }}
{{- if $obj.kind }}
{{- $_ := set $obj.metadata "name" (printf "%s%s" $root.Values.namePrefix $obj.metadata.name) }}
{{- $_ := set $obj.metadata "labels" (merge (dict) ($obj.metadata.labels | default dict) (include "partnercart.labels" $root | fromYaml)) }}
{{- if and $obj.spec (hasKey $obj.spec "policyName") }}
{{- $_ := set $obj.spec "policyName" (printf "%s%s" $root.Values.namePrefix $obj.spec.policyName) }}
{{- end }}
---
{{ toYaml $obj }}
{{- end }}
{{- end }}
{{- end }}
