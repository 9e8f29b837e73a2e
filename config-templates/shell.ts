/** Shell text helpers shared by the renderers of shell scripts. */

/** A shell word: single-quoted, with any single quote closed, escaped and reopened. */
export const quoteShell = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
