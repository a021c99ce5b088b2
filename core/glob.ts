/** Shell-style globs for device ids and names: `*` any run of characters, `?` one character; case-sensitive. */
export function globToRegExp (glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${body}$`)
}

/** A predicate for one glob, or for any of several. Plain strings match exactly. */
export function globMatcher (globs: string | readonly string[]): (text: string) => boolean {
  const list = typeof globs === 'string' ? [globs] : globs
  const res = list.map((g) => /[*?]/.test(g) ? globToRegExp(g) : g)
  return (text) => res.some((r) => typeof r === 'string' ? r === text : r.test(text))
}
