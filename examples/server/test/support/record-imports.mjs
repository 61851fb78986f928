// Preloaded into a server process under test (`NODE_OPTIONS=--import <this file>`): records
// the URL of every module the process resolves, one per line, in RECORD_IMPORTS_FILE.
import { register } from 'node:module';

register('./record-imports-hooks.mjs', import.meta.url, {
  data: { file: process.env.RECORD_IMPORTS_FILE },
});
