{{- define "payportal.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "payportal.fullname" -}}
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

{{- define "payportal.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "payportal.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "payportal.selectorLabels" -}}
app.kubernetes.io/name: {{ include "payportal.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selector of one component's pods: (dict "root" $ "component" "api") */}}
{{- define "payportal.componentSelector" -}}
{{ include "payportal.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "payportal.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "payportal.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "payportal.secretName" -}}
{{- default (include "payportal.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "payportal.image" -}}
{{- $tag := default (default .root.Chart.AppVersion .root.Values.image.tag) .tag -}}
{{ printf "%s:%s" .root.Values.image.repository $tag }}
{{- end }}

{{/* Whether the Temporal TLS files are mounted, and each file's key in the Secret. */}}
{{- define "payportal.temporalTLSSecretName" -}}
{{- default (printf "%s-temporal-tls" (include "payportal.fullname" .)) .Values.temporal.tls.existingSecret }}
{{- end }}

{{- define "payportal.temporalTLSFiles" -}}
{{- $t := .Values.temporal.tls -}}
{{- if $t.existingSecret -}}
{{- with $t.secretKeys.clientCert }}TEMPORAL_TLS_CLIENT_CERT_PATH: {{ . }}
{{ end }}
{{- with $t.secretKeys.clientKey }}TEMPORAL_TLS_CLIENT_KEY_PATH: {{ . }}
{{ end }}
{{- with $t.secretKeys.serverCACert }}TEMPORAL_TLS_SERVER_CA_CERT_PATH: {{ . }}
{{ end }}
{{- else -}}
{{- if $t.clientCert }}TEMPORAL_TLS_CLIENT_CERT_PATH: tls.crt
{{ end }}
{{- if $t.clientKey }}TEMPORAL_TLS_CLIENT_KEY_PATH: tls.key
{{ end }}
{{- if $t.serverCACert }}TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.crt
{{ end }}
{{- end -}}
{{- end }}

{{/*
The non-secret environment, one "NAME: value" line each; unset (empty) values are left out
so that the binary's defaults apply.
*/}}
{{- define "payportal.config" -}}
{{- $s := .Values.settings -}}
{{- $t := .Values.temporal -}}
{{- $env := dict
  "PAYPORTAL_ENV" $s.env
  "PAYPORTAL_HTTP_ADDR" (printf "0.0.0.0:%v" .Values.api.port)
  "PAYPORTAL_OPS_ADDR" (printf "0.0.0.0:%v" .Values.ops.port)
  "PAYPORTAL_PUBLIC_URL" $s.publicURL
  "PAYPORTAL_TASK_QUEUE" $s.taskQueue
  "PAYPORTAL_CARD_PROCESSOR" $s.cardProcessor
  "STRIPE_API_BASE" $s.stripeAPIBase
  "PAYPORTAL_PAYPAL" $s.paypal
  "PAYPAL_API_BASE" $s.paypalAPIBase
  "PAYPORTAL_RETURN_URL_HOSTS" $s.returnURLHosts
  "PAYPORTAL_TRUSTED_PROXIES" $s.trustedProxies
  "PAYPORTAL_CODEC_CORS_ORIGINS" $s.codecCORSOrigins
  "PAYPORTAL_WORKER_STOP_TIMEOUT" $s.workerStopTimeout
  "PAYPORTAL_CARD_VALIDATION_TIMEOUT" $s.cardValidationTimeout
  "PAYPORTAL_PAYPAL_APPROVAL_TIMEOUT" $s.paypalApprovalTimeout
  "PAYPORTAL_RATE_LIMIT_RPS" $s.rateLimitRPS
  "PAYPORTAL_RATE_LIMIT_BURST" $s.rateLimitBurst
  "PAYPORTAL_LOG_LEVEL" $s.logLevel
  "PAYPORTAL_SMTP_ADDR" $s.smtp.addr
  "PAYPORTAL_SMTP_FROM" $s.smtp.from
  "PAYPORTAL_SMTP_USERNAME" $s.smtp.username
  "PAYPORTAL_SMTP_TLS" $s.smtp.tls
  "OTEL_EXPORTER_OTLP_ENDPOINT" $s.otel.endpoint
  "OTEL_EXPORTER_OTLP_PROTOCOL" $s.otel.protocol
  "OTEL_SERVICE_NAME" $s.otel.serviceName
  "TEMPORAL_ADDRESS" $t.address
  "TEMPORAL_NAMESPACE" $t.namespace
  "TEMPORAL_TLS_SERVER_NAME" $t.tls.serverName
-}}
{{- if $t.tls.enabled }}
{{- $_ := set $env "TEMPORAL_TLS" "true" }}
{{- end }}
{{- range $name, $file := (include "payportal.temporalTLSFiles" . | fromYaml) }}
{{- $_ := set $env $name (printf "/etc/payportal/temporal-tls/%s" $file) }}
{{- end }}
{{- range $name, $value := .Values.extraEnv }}
{{- $_ := set $env $name $value }}
{{- end }}
{{- range $name, $value := $env }}
{{- if not (or (kindIs "invalid" $value) (eq (toString $value) "")) }}
{{ $name }}: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* The chart's Secret data, NAME: base64 lines; empty values left out. */}}
{{- define "payportal.secretData" -}}
{{- $s := .Values.secrets -}}
{{- $env := dict
  "DATABASE_URL" $s.databaseURL
  "STRIPE_API_KEY" $s.stripeAPIKey
  "PAYPAL_CLIENT_ID" $s.paypalClientID
  "PAYPAL_CLIENT_SECRET" $s.paypalClientSecret
  "PAYPORTAL_IDEMPOTENCY_SECRET" $s.idempotencySecret
  "PAYPORTAL_PAYLOAD_KEYS" $s.payloadKeys
  "PAYPORTAL_CODEC_TOKEN" $s.codecToken
  "PAYPORTAL_SMTP_PASSWORD" $s.smtpPassword
  "TEMPORAL_API_KEY" $s.temporalAPIKey
-}}
{{- range $name, $value := .Values.extraSecretEnv }}
{{- $_ := set $env $name $value }}
{{- end }}
{{- range $name, $value := $env }}
{{- if not (or (kindIs "invalid" $value) (eq (toString $value) "")) }}
{{ $name }}: {{ toString $value | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
One Deployment's pod template: (dict "root" $ "component" "api" "values" .Values.api "args" (list "api")).
*/}}
{{- define "payportal.podTemplate" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $sel := dict "root" $root "component" .component -}}
metadata:
  labels:
    {{- include "payportal.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
    # The ops Service selects api and worker pods alike.
    payportal/ops-listener: "true"
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # A changed setting changes the pod template, so the pods roll.
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "payportal.serviceAccountName" $root }}
  # PayPortal never calls the Kubernetes API.
  automountServiceAccountToken: false
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
  containers:
    - name: {{ .component }}
      image: {{ include "payportal.image" (dict "root" $root "tag" $v.imageTag) | quote }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args:
        {{- toYaml .args | nindent 8 }}
      envFrom:
        - configMapRef:
            name: {{ include "payportal.fullname" $root }}
        - secretRef:
            name: {{ include "payportal.secretName" $root }}
      ports:
        {{- if eq .component "api" }}
        - name: http
          containerPort: {{ $root.Values.api.port }}
          protocol: TCP
        {{- end }}
        - name: ops
          containerPort: {{ $root.Values.ops.port }}
          protocol: TCP
      readinessProbe:
        httpGet:
          path: /readyz
          port: ops
        {{- toYaml $root.Values.probes.readiness | nindent 8 }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: ops
        {{- toYaml $root.Values.probes.liveness | nindent 8 }}
      {{- if and (eq .component "api") (gt (int $v.preStopSleepSeconds) 0) }}
      lifecycle:
        preStop:
          sleep:
            seconds: {{ $v.preStopSleepSeconds }}
      {{- end }}
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if include "payportal.temporalTLSFiles" $root }}
        - name: temporal-tls
          mountPath: /etc/payportal/temporal-tls
          readOnly: true
        {{- end }}
  volumes:
    # The root filesystem is read-only; a scratch /tmp for any library that wants one.
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if include "payportal.temporalTLSFiles" $root }}
    - name: temporal-tls
      secret:
        secretName: {{ include "payportal.temporalTLSSecretName" $root }}
        defaultMode: 0440
    {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  affinity:
    {{- if $v.affinity }}
    {{- toYaml $v.affinity | nindent 4 }}
    {{- else }}
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
            labelSelector:
              matchLabels:
                {{- include "payportal.componentSelector" $sel | nindent 16 }}
    {{- end }}
  topologySpreadConstraints:
    {{- if $v.topologySpreadConstraints }}
    {{- toYaml $v.topologySpreadConstraints | nindent 4 }}
    {{- else }}
    - maxSkew: 1
      topologyKey: topology.kubernetes.io/zone
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "payportal.componentSelector" $sel | nindent 10 }}
    {{- end }}
{{- end }}

{{/* A PodDisruptionBudget's limit: minAvailable or maxUnavailable, exactly one. */}}
{{- define "payportal.pdbLimit" -}}
{{- $min := toString .minAvailable -}}
{{- $max := toString .maxUnavailable -}}
{{- if and (ne $min "") (ne $min "<nil>") (ne $max "") (ne $max "<nil>") -}}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both" -}}
{{- else if and (ne $min "") (ne $min "<nil>") -}}
minAvailable: {{ .minAvailable }}
{{- else if and (ne $max "") (ne $max "<nil>") -}}
maxUnavailable: {{ .maxUnavailable }}
{{- else -}}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable" -}}
{{- end -}}
{{- end }}
