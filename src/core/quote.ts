/**
 * The one POSIX shell quoter: a single-quoted word the shell reads back byte for byte (a quote inside
 * becomes '\''). For the scripts cnidbg writes (the plugin's shell front, trace's job runner) and for
 * the command lines it prints for a person to paste (reproduce lines).
 */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`
}

/** A word of a printed command line: bare when the shell reads it back unchanged, else shellQuote'd. */
export function shellWord(text: string): string {
  return /^[\w./:,=@+-]+$/.test(text) ? text : shellQuote(text)
}
