// The one form of a username that every comparison uses: account lookup, the uniqueness of a new or changed
// name (accounts.username_key, unique), and the sign-in lock-out key. It is computed here, in the
// application, never by the database's lower(): that follows the database's locale (PostgreSQL lowers
// 'İ' to 'i', JavaScript to 'i' + U+0307), so two rules would disagree about which names are the same.

/**
 * NFKC (fullwidth 'ｉｒｉｎａ', ligatures and modifier letters become plain letters), then trim (every
 * Unicode space, including those NFKC produced), then lower case. 'İ' (U+0130) is lowered to plain 'i', as
 * PostgreSQL's lower() always did: it is the one letter JavaScript lowers to two code points. The result is
 * stable: normalizing it again changes nothing.
 */
export function normalizeUsername(username: string): string {
  return username.normalize('NFKC').trim().replace(/\u0130/g, 'I').toLowerCase();
}
