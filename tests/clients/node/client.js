#!/usr/bin/env node
// client.js OUT: the original VIP-lane tool's documented Node.js integration, run against the real
// governor binary.
//
// Like the original heartbeat it execSync()s the governor and reads its JSON; unlike it, it parses
// the WHOLE stdout line (governor prints exactly one JSON line and nothing else on stdout; the
// original searched its output with /\{[^}]+\}/, which cannot match the nested
// "recommendation" object, so READY never parsed).  On READY it spawns the task, without a shell,
// on recommendation.model with recommendation.prompt, then runs `governor pop ID`; when the child
// exits it reports `governor done ID` (exit 0) or `governor fail ID --reason ...`.
//
// The child is a harmless `node -e` that writes the prompt it was given to OUT.prompt and the
// model to OUT.model, byte for byte, then exits with $CLIENT_CHILD_EXIT (default 0).
//
// Environment: GOVERNOR (the binary; default "governor" from PATH), GOVERNOR_CONFIG and
// GOVERNOR_STATE_DIR (read by governor itself).  Prints one summary line; exit 0 unless something
// went wrong.
'use strict';

const { execSync, execFileSync, spawn } = require('child_process');

const governor = process.env.GOVERNOR || 'governor';
const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: client.js OUT\n');
  process.exit(64);
}

// Only the binary's path goes into the command line execSync hands to the shell, quoted.
const quoted = "'" + governor.replace(/'/g, "'\\''") + "'";

function check() {
  let stdout;
  try {
    stdout = execSync(`${quoted} check`, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  } catch (e) {
    // A failed check still prints its decision line ({"status":"ERROR",...}) on stdout.
    stdout = e.stdout || '';
    if (!stdout.trim()) throw e;
  }
  const lines = stdout.split('\n').filter((l) => l !== '');
  if (lines.length !== 1) throw new Error(`expected one line on stdout, got ${lines.length}`);
  return JSON.parse(lines[0]);
}

function gov(...args) {
  return execFileSync(governor, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

const CHILD = `
const fs = require('fs');
const [prompt, model] = process.argv.slice(1);
fs.writeFileSync(process.env.CLIENT_OUT + '.prompt', prompt);
fs.writeFileSync(process.env.CLIENT_OUT + '.model', model);
process.exit(Number(process.env.CLIENT_CHILD_EXIT || 0));
`;

function main() {
  const decision = check();
  if (decision.status !== 'READY') {
    const why = decision.reason || (decision.error && decision.error.code) || '';
    console.log(`${decision.status}${why ? ' ' + why : ''}`);
    return decision.status === 'ERROR' ? 1 : 0;
  }
  const rec = decision.recommendation;
  const id = rec.task_id;
  // '--' ends node's own options: a prompt may begin with a dash.
  const child = spawn(process.execPath, ['-e', CHILD, '--', rec.prompt, rec.model], {
    stdio: 'inherit',
    env: { ...process.env, CLIENT_OUT: out },
  });
  child.on('error', (e) => {
    gov('fail', id, '--reason', `spawn failed: ${e.message}`);
    console.log(`READY ${id} spawn failed`);
    process.exitCode = 1;
  });
  let popped = false;
  child.on('spawn', () => {
    try {
      gov('pop', id); // confirms the spawn: the task is running under a lease
      popped = true;
    } catch (e) {
      // Not ours any more (the claim lapsed): stop the child, report nothing.
      process.stderr.write(`client.js: governor pop ${id} failed; stopping the child\n`);
      child.kill('SIGTERM');
      process.exitCode = 1;
    }
  });
  child.on('exit', (code, signal) => {
    if (!popped) return;
    if (code === 0) {
      gov('done', id);
      console.log(`READY ${id} ${rec.model} done`);
    } else {
      gov('fail', id, '--reason', signal ? `killed by ${signal}` : `exit status ${code}`);
      console.log(`READY ${id} ${rec.model} failed`);
    }
  });
  return 0;
}

try {
  process.exitCode = main();
} catch (e) {
  process.stderr.write(`client.js: ${e.message}\n`);
  process.exitCode = 1;
}
