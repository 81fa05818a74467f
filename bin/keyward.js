#!/usr/bin/env node
/**
 * The `keyward` command (`npx keyward <command>`, `npm run keyward -- <command>`): builds dist/
 * only when the TypeScript sources are newer than the last build, then runs the CLI
 * (dist/cli/main.js) in this same process. Build messages go to stderr, never to stdout.
 */
'use strict';

const path = require('node:path');
const { ensureBuilt } = require('../scripts/ensure-build');

if (!ensureBuilt()) process.exit(1);
require(path.join(__dirname, '..', 'dist', 'cli', 'main.js'));
