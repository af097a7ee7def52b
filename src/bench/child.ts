// One benchmark child process: run to completion (or killed at a time limit), its stdout ending
// with one JSON object on lines of its own.

import { spawn } from 'node:child_process';

/** Runs one child to completion; its stdout must end with one JSON object. */
export function runChild(file: string, args: string[], cwd: string, timeoutMs: number): Promise<{ json?: Record<string, unknown>; error?: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); resolve({ error: e.message }); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // the object starts on a line of its own (peers may print banners before it)
      const start = stdout.search(/^\{$/m);
      let json: Record<string, unknown> | undefined;
      if (start >= 0) {
        try { json = JSON.parse(stdout.slice(start)); } catch { /* reported below */ }
      }
      if (json !== undefined && (code === 0 || json.status !== undefined)) return resolve({ json });
      const why = timedOut ? `timed out after ${(timeoutMs / 60_000).toFixed(0)} min`
        : `exit ${code ?? signal}: ${lastLine(stderr) || lastLine(stdout) || 'no output'}`;
      resolve({ error: why });
    });
  });
}

function lastLine(s: string): string {
  const lines = s.split('\n').map((l) => l.trim()).filter((l) => l && !/^=+$/.test(l));
  return lines.slice(-3).join(' ').slice(0, 400);
}
