// What PostgreSQL can store as given. The edge refuses other input first (http/middleware/hostile-input.ts);
// what the database answers when such a value reaches it anyway is `isUnrepresentableInput` (problem.ts).

/** A NUL, or a UTF-16 surrogate that is not half of a pair. */
const UNREPRESENTABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Whether PostgreSQL text holds `value` unchanged: it refuses NUL (SQLSTATE 22021), and the driver's UTF-8
 * encoding would silently turn an unpaired surrogate into U+FFFD.
 */
export function isRepresentableText(value: string): boolean {
  return !UNREPRESENTABLE.test(value);
}
