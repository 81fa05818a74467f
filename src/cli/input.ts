/**
 * Secrets the CLI reads: from standard input, never from the command line (argv is visible to
 * every user of the machine in `ps` and lands in shell history).
 */
import { AppError } from '../errors';

/** A mistake in how the CLI was called (exit code 2). */
export function usageError(message: string): AppError {
  return new AppError({ status: 400, code: 'usage_error', message });
}

/** Everything on standard input; refuses a terminal with `hint` (how to pipe the value). */
export async function readStdin(hint: string): Promise<string> {
  if (process.stdin.isTTY) throw usageError(hint);
  let data = '';
  for await (const chunk of process.stdin) data += chunk;
  return data;
}

/**
 * A new password: typed twice without echo on a terminal, or one line piped on standard input
 * (its final newline dropped). Empty or multi-line input is refused with how to do it right.
 */
export async function readNewPassword(example: string): Promise<string> {
  if (process.stdin.isTTY) {
    const first = await promptHidden('New password: ');
    const again = await promptHidden('New password again: ');
    if (first !== again) throw usageError('The two passwords differ; nothing was changed.');
    if (first === '') throw usageError('No password was typed; nothing was changed.');
    return first;
  }
  const piped = await readStdin(`Pipe the new password on standard input, e.g. \`${example}\`, or use --generate.`);
  const input = piped.replace(/\r?\n$/, '');
  if (input === '') {
    throw usageError(`No password on standard input; nothing was changed. Pipe one line, e.g. \`${example}\`, or use --generate.`);
  }
  if (/[\r\n]/.test(input)) throw usageError('The password on standard input must be one line; nothing was changed.');
  return input;
}

/** Reads one line from the terminal without echoing it (prompt on stderr). */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (error: Error | null) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n' || char === '\u0004') return finish(null);
        if (char === '\u0003') return finish(usageError('Cancelled; nothing was changed.'));
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else if (char >= ' ') value += char;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}
