// What an access check answers for one request: let it through, or refuse it
// with the status and one-line message the server sends.
export type AccessDecision = { allowed: true } | { allowed: false; status: 401 | 403 | 503; message: string };
