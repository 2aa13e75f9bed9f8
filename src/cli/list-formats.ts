// The output formats of `list`, apart from the code that reads the pinned
// maps, so the command line can name them without loading libbpf.
export const LIST_FORMATS = ['table', 'json', 'cilium'] as const;
export type ListFormat = (typeof LIST_FORMATS)[number];
