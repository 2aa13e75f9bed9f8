// One short line for an error from the Kubernetes client, whatever its shape:
// the generated API throws ApiException (code + Status body, and a message
// that embeds all headers), Watch throws Error with statusCode, and fetch
// hides the socket error (ECONNREFUSED, ...) in `cause`.
export function describeApiError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const { code, statusCode, body, cause } = err as Error & {
    code?: unknown;
    statusCode?: unknown;
    body?: unknown;
    cause?: unknown;
  };
  const status = typeof code === 'number' ? code : typeof statusCode === 'number' ? statusCode : undefined;
  if (status !== undefined) {
    return `HTTP ${status}: ${statusMessage(body) ?? firstLine(err.message)}`;
  }
  if (cause instanceof Error) {
    const causeCode = (cause as Error & { code?: unknown }).code;
    return `${err.message}: ${typeof causeCode === 'string' ? `${causeCode} ` : ''}${cause.message}`;
  }
  return err.message;
}

function statusMessage(body: unknown): string | undefined {
  if (typeof body === 'string') {
    try {
      return statusMessage(JSON.parse(body));
    } catch {
      return firstLine(body) || undefined;
    }
  }
  if (typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string') {
    return body.message;
  }
  return undefined;
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}
