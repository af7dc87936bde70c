{{- define "runbook-bot.fullname" -}}
{{- printf "%s" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "runbook-bot.labels" -}}
app.kubernetes.io/name: k8s-runbook-bot
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end -}}
{{- define "runbook-bot.selector" -}}
app.kubernetes.io/name: k8s-runbook-bot
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "runbook-bot.serviceAccount" -}}
{{- default (include "runbook-bot.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* "true" when the store is SQLite (no PostgreSQL URL from a Secret or in config.store.url). */}}
{{- define "runbook-bot.sqlite" -}}
{{- if and (not .Values.store.existingSecret) (hasPrefix "sqlite" (dig "store" "url" "sqlite:" .Values.config)) -}}
true
{{- end -}}
{{- end -}}

{{- define "runbook-bot.slackSecret" -}}
{{- if .Values.slack.create -}}
{{- printf "%s-slack" (include "runbook-bot.fullname" .) -}}
{{- else -}}
{{- .Values.slack.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "runbook-bot.dataClaim" -}}
{{- default (printf "%s-data" (include "runbook-bot.fullname" .)) .Values.persistence.existingClaim -}}
{{- end -}}

{{/* Refuse setups that lose data or split the bot's state, each with what to do instead. */}}
{{- define "runbook-bot.validate" -}}
{{- $mode := dig "slack" "mode" "http" .Values.config -}}
{{- if and (gt (int .Values.replicaCount) 1) (include "runbook-bot.sqlite" .) -}}
{{- fail (printf "replicaCount is %d but the store is SQLite: each replica would keep its own database (runs, approvals and alerts of one replica are unknown to the others). Set store.existingSecret to a Secret holding a PostgreSQL URL, or replicaCount: 1." (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and (gt (int .Values.replicaCount) 1) (dig "health" "enabled" true .Values.config) (not (dig "health" "leader_election" "enabled" true .Values.config)) -}}
{{- fail "replicaCount > 1 with config.health.leader_election.enabled: false: every replica would run the health checks and post the same alerts. Enable leader election or use one replica." -}}
{{- end -}}
{{- if and (not .Values.slack.create) (not .Values.slack.existingSecret) -}}
{{- fail "slack.existingSecret is empty: name the Secret holding the Slack tokens (or, for development only, slack.create: true with slack.botToken and the secret of the mode)." -}}
{{- end -}}
{{- if .Values.slack.create -}}
{{- if not .Values.slack.botToken -}}
{{- fail "slack.create is true but slack.botToken is empty (an xoxb- token)." -}}
{{- end -}}
{{- if and (eq $mode "socket") (not .Values.slack.appToken) -}}
{{- fail "slack.create is true in Socket Mode but slack.appToken is empty (an xapp- token)." -}}
{{- end -}}
{{- if and (ne $mode "socket") (not .Values.slack.signingSecret) -}}
{{- fail "slack.create is true in HTTP mode but slack.signingSecret is empty." -}}
{{- end -}}
{{- end -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (int .Values.shutdownMarginSeconds) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be greater than shutdownMarginSeconds (%d): the bot would get no time to shut down." (int .Values.terminationGracePeriodSeconds) (int .Values.shutdownMarginSeconds)) -}}
{{- end -}}
{{- if and .Values.podDisruptionBudget.enabled (hasKey .Values.podDisruptionBudget "minAvailable") (ge (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount)) -}}
{{- fail (printf "podDisruptionBudget.minAvailable (%d) must be below replicaCount (%d), or no node hosting the bot could ever be drained." (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount)) -}}
{{- end -}}
{{- end -}}
