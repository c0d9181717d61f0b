{{/* app.labels are the labels of every object the chart renders. */}}
{{- define "app.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* app.selector selects the release's pods. */}}
{{- define "app.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* app.image is the container image of the Deployment and the hooks. */}}
{{- define "app.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}
