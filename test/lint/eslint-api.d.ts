// SPDX-License-Identifier: Apache-2.0
// eslint 9.9 ships no type declarations (they arrive with 9.10): the part of
// its Node API that layers.test.ts uses.
declare module 'eslint' {
  export interface LintMessage {
    ruleId: string | null;
    message: string;
    line: number;
  }
  export interface LintResult {
    messages: LintMessage[];
  }
  export class ESLint {
    constructor(options: { cwd: string });
    lintText(code: string, options: { filePath: string }): Promise<LintResult[]>;
    isPathIgnored(filePath: string): Promise<boolean>;
  }
}
