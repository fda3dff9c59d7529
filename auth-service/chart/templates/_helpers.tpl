{{/* The name every object of this release carries. */}}
{{- define "svc.fullname" -}}
{{- if eq .Release.Name .Chart.Name -}}{{ .Chart.Name }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{/* Labels that select this release's pods: Deployment, Service, PDB and NetworkPolicy agree. */}}
{{- define "svc.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of the migrate Job's pods: its NetworkPolicy selects them. */}}
{{- define "svc.migrateSelectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}-migrate
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "svc.labels" -}}
{{ include "svc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: shop
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "svc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ default (include "svc.fullname" .) .Values.serviceAccount.name }}{{- else -}}{{ default "default" .Values.serviceAccount.name }}{{- end -}}
{{- end -}}

{{- define "svc.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{/* Secrets from the existing Secret, one variable per key. */}}
{{- define "svc.secretEnv" -}}
{{- range $name, $key := .Values.secretKeys }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.existingSecret }}
      key: {{ $key }}
{{- end }}
{{- end -}}

{{/* The container's security context: no root, no writes, no capabilities. */}}
{{- define "svc.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Egress to the cluster DNS: every pod of the chart resolves names. */}}
{{- define "svc.dnsEgress" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end -}}

{{/* Egress to one target of networkPolicy.egress ({port, to}). Nothing when `to` is empty: a
rule without peers would allow every destination. */}}
{{- define "svc.egressRule" -}}
{{- if .to }}
- to:
    {{- toYaml .to | nindent 4 }}
  ports:
    - port: {{ .port }}
      protocol: TCP
{{- end }}
{{- end -}}

{{/* Where the workload TLS Secret is mounted: a whole folder, so the files follow the Secret when
cert-manager renews it (a subPath mount would freeze them) and the service reloads them. */}}
{{- define "svc.tlsDir" -}}
/etc/shop/tls
{{- end -}}

{{/* The workload TLS Secret (tls.crt, tls.key, ca.crt): tls.secretName, or the name a cert-manager
Certificate for this release would fill. */}}
{{- define "svc.tlsSecretName" -}}
{{ default (printf "%s-tls" (include "svc.fullname" .)) .Values.tls.secretName }}
{{- end -}}
