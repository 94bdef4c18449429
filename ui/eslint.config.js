// ESLint: the React hooks rules (rules of hooks, exhaustive dependencies and
// the React Compiler's checks) over the UI's TypeScript. The TypeScript is
// parsed by Babel (typescript-eslint does not read TypeScript 7); types are
// checked by `tsc --noEmit`, not here.
import babelParser from "@babel/eslint-parser";
import reactHooks from "eslint-plugin-react-hooks";

export default [
  { ignores: ["dist/**", "node_modules/**", "src/api/generated/**"] },
  {
    files: ["src/**/*.{ts,tsx}"],
    languageOptions: {
      parser: babelParser,
      parserOptions: {
        requireConfigFile: false,
        babelOptions: {
          babelrc: false,
          configFile: false,
          presets: [["@babel/preset-typescript", { isTSX: true, allExtensions: true }], ["@babel/preset-react", { runtime: "automatic" }]],
        },
      },
    },
    plugins: { "react-hooks": reactHooks },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      ...reactHooks.configs.recommended.rules,
      "react-hooks/exhaustive-deps": "error",
      // Off, with reasons: the console's effects load data from Rust when
      // their inputs change and reset what they showed first (a spinner, a
      // cleared result), which this rule flags; and TanStack Virtual's hook
      // is one the React Compiler skips, which is a notice, not a fault.
      "react-hooks/set-state-in-effect": "off",
      "react-hooks/incompatible-library": "off",
    },
  },
];
