// serve --handler's module path: resolved against the current directory into
// a file: URL that names the same file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { moduleUrl } from "../src/cli/handler_module.ts";

test("handler module: a path becomes the file: URL of the same file", () => {
  const cases: Array<[string, string, string]> = [
    ["/srv/app", "kv.ts", "file:///srv/app/kv.ts"],
    ["/srv/app/", "./lib/kv.js", "file:///srv/app/lib/kv.js"],
    ["/srv/app", "../kv.ts", "file:///srv/kv.ts"],
    ["/srv/app", "/opt/kv.ts", "file:///opt/kv.ts"],
    ["/srv/my app", "k#v?.ts", "file:///srv/my%20app/k%23v%3F.ts"],
    ["/srv/app", "100%.ts", "file:///srv/app/100%25.ts"],
    ["C:\\srv\\app", "lib\\kv.js", "file:///C:/srv/app/lib/kv.js"],
    ["C:\\srv\\app", "D:\\kv.js", "file:///D:/kv.js"],
  ];
  for (const [cwd, file, url] of cases) {
    assert.equal(moduleUrl(cwd, file).href, url, `${cwd} + ${file}`);
  }
  const url = moduleUrl("/srv/my app", "k#v?.ts");
  assert.equal(decodeURIComponent(url.pathname), "/srv/my app/k#v?.ts");
});
