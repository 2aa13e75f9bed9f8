// Cilium names its reasons in sentences ("CT: Truncated or invalid header");
// the `reason` label is UPPER_SNAKE like the kernel's and Hubble's names
// (CT_TRUNCATED_OR_INVALID_HEADER).

/** "Policy denied" -> "POLICY_DENIED"; "CT: Can't create entry" -> "CT_CANT_CREATE_ENTRY". */
export function upperSnake(text: string): string {
  return text
    .replace(/'/g, '') // "Can't" is one word, not CAN_T
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toUpperCase();
}
