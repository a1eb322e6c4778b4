// as-hello: an example cis skill written in AssemblyScript with the SDK of
// sdk/assemblyscript. {"name":"Ada"} answers
// {"greeting":"Hello, Ada!","count":1,"previous":null}: it counts the
// greetings of each name in the skill's KV memory and remembers who was
// greeted last, so a second run answers "count":2 and "previous":"Ada".

import {
  ErrorCode, JsonObject, errorName, inputString, jsonGetString, jsonQuote, kvGet, kvIncrement, kvSet, lastError,
  logError, logInfo, output,
} from "../../sdk/assemblyscript/assembly/index";

export function cis_main(): i32 {
  const input = inputString();
  if (lastError() != ErrorCode.OK) return lastError();
  const given = jsonGetString(input, "name");
  const name = given !== null && given.length > 0 ? given : "world";
  logInfo("as-hello: greeting " + name);

  // How many times this name was greeted, counted with an atomic increment
  // (a get + set would lose greetings of concurrent calls); it also holds
  // the skill's KV lock until the call ends, so "last" is read and written
  // by one call at a time.
  const count = kvIncrement("greetings:" + name, 1);
  if (lastError() != ErrorCode.OK) return fail("kv_increment");
  const previous = kvGet("last");
  if (previous === null && lastError() != ErrorCode.NOT_FOUND) return fail("kv_get");

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
