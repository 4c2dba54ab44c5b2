/**
 * `--log-file`: lines appended to a file, reopened by path on SIGHUP, so logrotate can move the file
 * away and signal the worker (`postrotate kill -HUP <pid>`; the pool children share the worker's
 * process group: `kill -HUP -- -<pgid>` reaches them too). Writes are synchronous, as a process's
 * stderr is when it goes to a file: lines stay whole and in order, and nothing is lost on exit.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export interface LogFile {
  write(line: string): void;
  /** Close and open the path again (after a rotation). */
  reopen(): void;
  close(): void;
}

export function openLogFile(path: string): LogFile {
  let fd = openSync(path, 'a');
  return {
    write(line) {
      writeSync(fd, line);
    },
    reopen() {
      const next = openSync(path, 'a');
      const old = fd;
      fd = next;
      closeSync(old);
    },
    close() {
      closeSync(fd);
    },
  };
}

/** Reopen `file` on every SIGHUP of this process; returns the function that stops doing so. */
export function reopenOnHangup(file: LogFile, onError: (err: Error) => void): () => void {
  const onHup = () => {
    try {
      file.reopen();
    } catch (err) {
      // The old descriptor stays in use: lines keep going to the rotated file rather than nowhere.
      onError(err as Error);
    }
  };
  process.on('SIGHUP', onHup);
  return () => process.off('SIGHUP', onHup);
}
