// The --metrics-auth modes, apart from the authorizers, so the command line
// can name them without loading TLS, YAML and bcrypt.
export const METRICS_AUTH_MODES = ['none', 'kubernetes'] as const;
export type MetricsAuthMode = (typeof METRICS_AUTH_MODES)[number];
