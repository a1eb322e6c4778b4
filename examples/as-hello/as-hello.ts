// as-hello: an example cis skill written in AssemblyScript with the SDK of
// sdk/assemblyscript. {"name":"Ada"} answers
// {"greeting":"Hello, Ada!","count":1,"previous":null}: it counts the
// greetings of each name in the skill's KV memory and remembers who was
// greeted last, so a second run answers "count":2 and "previous":"Ada".

import {
  ErrorCode, JsonObject, errorName, inputString, jsonGetString, jsonQuote, kvGet, kvSet, lastError,
  logError, logInfo, output,
} from "../../sdk/assemblyscript/assembly/index";

export function cis_main(): i32 {
  const input = inputString();
  if (lastError() != ErrorCode.OK) return lastError();
  const given = jsonGetString(input, "name");
  const name = given !== null && given.length > 0 ? given : "world";
  logInfo("as-hello: greeting " + name);

  // How many times this name was greeted before, and who was greeted last.
  let count: i64 = 1;
  const seen = kvGet("greetings:" + name);
  if (seen !== null) count = I64.parseInt(seen) + 1;
  else if (lastError() != ErrorCode.NOT_FOUND) return fail("kv_get");
  const previous = kvGet("last");
  if (previous === null && lastError() != ErrorCode.NOT_FOUND) return fail("kv_get");

  if (kvSet("greetings:" + name, count.toString()) < 0) return fail("kv_set");
  if (kvSet("last", name) < 0) return fail("kv_set");
  logInfo("as-hello: " + name + " greeted " + count.toString() + " time(s)");

  const out = new JsonObject()
    .str("greeting", "Hello, " + name + "!")
    .int("count", count)
    .raw("previous", previous !== null ? jsonQuote(previous) : "null");
  return output(out.toString());
}

function fail(what: string): i32 {
  const code = lastError();
  logError("as-hello: " + what + " failed: " + errorName(code));
  return code;
}
