{{- define "runbook-bot.fullname" -}}
{{- printf "%s" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "runbook-bot.labels" -}}
app.kubernetes.io/name: k8s-runbook-bot
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
{{- define "runbook-bot.selector" -}}
app.kubernetes.io/name: k8s-runbook-bot
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "runbook-bot.serviceAccount" -}}
{{- default (include "runbook-bot.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}
