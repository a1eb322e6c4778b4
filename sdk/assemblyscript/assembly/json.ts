// JSON for skills: a writer for the output and a reader for the members
// of the input object, without a general-purpose JSON library.
//
//   const name = jsonGetString(input, "name");       // null when absent
//   output(new JsonObject().str("hello", name!).int("n", 2).toString());

/** `s` as a JSON string literal, quotes included. */
export function jsonQuote(s: string): string {
  let out = "\"";
  let start = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    let esc = "";
    if (c == 0x22) esc = "\\\"";
    else if (c == 0x5c) esc = "\\\\";
    else if (c == 0x0a) esc = "\\n";
    else if (c == 0x0d) esc = "\\r";
    else if (c == 0x09) esc = "\\t";
    else if (c < 0x20) {
      const hex = "0123456789abcdef";
      esc = "\\u00" + hex.charAt(c >> 4) + hex.charAt(c & 15);
    } else continue;
    out += s.substring(start, i) + esc;
    start = i + 1;
  }
  return out + s.substring(start) + "\"";
}

/** A number as JSON (NaN and infinities become null). */
export function jsonNumber(v: f64): string {
  if (!isFinite(v)) return "null";
  if (v == Math.trunc(v) && Math.abs(v) < 9007199254740992.0) return (<i64>v).toString();
  return v.toString();
}

/** Builds a JSON object member by member. */
export class JsonObject {
  private body: string = "";

  private key(k: string): void {
    if (this.body.length > 0) this.body += ",";
    this.body += jsonQuote(k) + ":";
  }

  /** A string member. */
  str(k: string, v: string): JsonObject {
    this.key(k);
    this.body += jsonQuote(v);
    return this;
  }

  /** An integer member. */
  int(k: string, v: i64): JsonObject {
    this.key(k);
    this.body += v.toString();
    return this;
  }

  /** A number member. */
  num(k: string, v: f64): JsonObject {
    this.key(k);
    this.body += jsonNumber(v);
    return this;
  }

  /** A boolean member. */
  bool(k: string, v: bool): JsonObject {
    this.key(k);
    this.body += v ? "true" : "false";
    return this;
  }

  /** A null member. */
  nul(k: string): JsonObject {
    this.key(k);
    this.body += "null";
    return this;
  }

  /** A member whose value is already JSON text (an object, an array...). */
  raw(k: string, json: string): JsonObject {
    this.key(k);
    this.body += json;
    return this;
  }

  toString(): string {
    return "{" + this.body + "}";
  }
}

/** Builds a JSON array item by item. */
export class JsonArray {
  private body: string = "";

  private next(): void {
    if (this.body.length > 0) this.body += ",";
  }

  str(v: string): JsonArray {
    this.next();
    this.body += jsonQuote(v);
    return this;
  }

  int(v: i64): JsonArray {
    this.next();
    this.body += v.toString();
    return this;
  }

  num(v: f64): JsonArray {
    this.next();
    this.body += jsonNumber(v);
    return this;
  }

  bool(v: bool): JsonArray {
    this.next();
    this.body += v ? "true" : "false";
    return this;
  }

  raw(json: string): JsonArray {
    this.next();
    this.body += json;
    return this;
  }

  toString(): string {
    return "[" + this.body + "]";
  }
}

// ------------------------------------------------------------- reading

function skipWs(s: string, i: i32): i32 {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
    i++;
  }
  return i;
}

/** End (exclusive) of the string literal starting at i, or -1. */
function skipString(s: string, i: i32): i32 {
  i++; // the opening quote
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c == 0x5c) i += 2;
    else if (c == 0x22) return i + 1;
    else i++;
  }
  return -1;
}

/** End (exclusive) of the value starting at i, or -1 when malformed. */
function skipValue(s: string, i: i32): i32 {
  if (i >= s.length) return -1;
  const c = s.charCodeAt(i);
  if (c == 0x22) return skipString(s, i);
  if (c == 0x7b || c == 0x5b) {
    let depth = 0;
    while (i < s.length) {
      const d = s.charCodeAt(i);
      if (d == 0x22) {
        i = skipString(s, i);
        if (i < 0) return -1;
        continue;
      }
      if (d == 0x7b || d == 0x5b) depth++;
      else if (d == 0x7d || d == 0x5d) {
        depth--;
        if (depth == 0) return i + 1;
      }
      i++;
    }
    return -1;
  }
  // A number or a literal: up to the next delimiter.
  const start = i;
  while (i < s.length) {
    const d = s.charCodeAt(i);
    if (d == 0x2c || d == 0x7d || d == 0x5d || d == 0x20 || d == 0x09 || d == 0x0a || d == 0x0d) break;
    i++;
  }
  return i > start ? i : -1;
}

/** The JSON text of member `key` of the top-level object `json`, or null
 * when absent (or when `json` is not an object). */
export function jsonGet(json: string, key: string): string | null {
  let i = skipWs(json, 0);
  if (i >= json.length || json.charCodeAt(i) != 0x7b) return null;
  i = skipWs(json, i + 1);
  if (i < json.length && json.charCodeAt(i) == 0x7d) return null;
  while (i < json.length) {
    if (json.charCodeAt(i) != 0x22) return null;
    const kend = skipString(json, i);
    if (kend < 0) return null;
    const name = jsonDecodeString(json.substring(i, kend));
    i = skipWs(json, kend);
    if (i >= json.length || json.charCodeAt(i) != 0x3a) return null;
    i = skipWs(json, i + 1);
    const vend = skipValue(json, i);
    if (vend < 0) return null;
    if (name !== null && name == key) return json.substring(i, vend);
    i = skipWs(json, vend);
    if (i >= json.length || json.charCodeAt(i) != 0x2c) return null;
    i = skipWs(json, i + 1);
  }
  return null;
}

function hexDigit(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** The text of a JSON string literal (quotes included), or null when it
 * is not one. */
export function jsonDecodeString(lit: string): string | null {
  const n = lit.length;
  if (n < 2 || lit.charCodeAt(0) != 0x22 || lit.charCodeAt(n - 1) != 0x22) return null;
  let out = "";
  let start = 1;
  let i = 1;
  while (i < n - 1) {
    if (lit.charCodeAt(i) != 0x5c) {
      i++;
      continue;
    }
    out += lit.substring(start, i);
    if (i + 1 >= n - 1) return null;
    const e = lit.charCodeAt(i + 1);
    i += 2;
    if (e == 0x6e) out += "\n";
    else if (e == 0x74) out += "\t";
    else if (e == 0x72) out += "\r";
    else if (e == 0x62) out += "\b";
    else if (e == 0x66) out += "\f";
    else if (e == 0x22 || e == 0x5c || e == 0x2f) out += String.fromCharCode(e);
    else if (e == 0x75) {
      // \uXXXX: a UTF-16 unit, which is what AssemblyScript strings hold,
      // so surrogate pairs come out right by themselves.
      if (i + 4 > n - 1) return null;
      let v = 0;
      for (let k = 0; k < 4; k++) {
        const d = hexDigit(lit.charCodeAt(i + k));
        if (d < 0) return null;
        v = v * 16 + d;
      }
      out += String.fromCharCode(v);
      i += 4;
    } else return null;
    start = i;
  }
  return out + lit.substring(start, n - 1);
}

/** Member `key` as a string; null when absent or not a string. */
export function jsonGetString(json: string, key: string): string | null {
  const v = jsonGet(json, key);
  return v === null ? null : jsonDecodeString(v);
}

/** Member `key` as a number; `otherwise` when absent or not a number. */
export function jsonGetNumber(json: string, key: string, otherwise: f64 = 0): f64 {
  const v = jsonGet(json, key);
  if (v === null || v.length == 0) return otherwise;
  const c = v.charCodeAt(0);
  if (c != 0x2d && (c < 0x30 || c > 0x39)) return otherwise;
  const n = parseFloat(v);
  return isNaN(n) ? otherwise : n;
}

/** Member `key` as a boolean; `otherwise` when absent or not a boolean. */
export function jsonGetBool(json: string, key: string, otherwise: bool = false): bool {
  const v = jsonGet(json, key);
  if (v === null) return otherwise;
  if (v == "true") return true;
  if (v == "false") return false;
  return otherwise;
}
