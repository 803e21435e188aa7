#!/usr/bin/env node
// Entry point installed as `fileio_tgt`; the program itself is compiled to dist/ by `npm install`.
import { main } from '../dist/src/cli/main.js';

process.exit(await main(process.argv.slice(2)));
