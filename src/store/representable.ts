// What PostgreSQL can store as given, and which of its errors mean "this input cannot be stored" (a bad
// request) rather than a fault (a 500). The edge refuses such input first (http/middleware/hostile-input.ts);
// these are the rule it shares and the safety net behind it.

/** A NUL, or a UTF-16 surrogate that is not half of a pair. */
const UNREPRESENTABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Whether PostgreSQL text holds `value` unchanged: it refuses NUL (SQLSTATE 22021), and the driver's UTF-8
 * encoding would silently turn an unpaired surrogate into U+FFFD.
 */
export function isRepresentableText(value: string): boolean {
  return !UNREPRESENTABLE.test(value);
}

// SQLSTATE class 22 (data exception) for values the input put there: character_not_in_repertoire,
// untranslatable_character, invalid_text_representation, numeric_value_out_of_range,
// datetime_field_overflow, invalid_datetime_format.
const INPUT_CODES = new Set(['22021', '22P05', '22P02', '22003', '22008', '22007']);

/** Whether the database refused a value it cannot represent: the request was bad, the server is fine. */
export function isUnrepresentableInput(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && INPUT_CODES.has(e.code)) return true;
  }
  return false;
}
