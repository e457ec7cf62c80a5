import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes a file so that after a crash it holds either the old or the new
 * content, never half of it: temporary file, fsync, rename, fsync the folder.
 * @public
 */
export async function writeFileDurable(
  file: string,
  data: string,
  mode = 0o600,
): Promise<void> {
  const tmp = `${file}.${process.pid}.${Math.random()
    .toString(36)
    .slice(2)}.tmp`;
  const handle = await open(tmp, 'w', mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, file);
  } catch (error) {
    await unlink(tmp).catch(() => {});
    throw error;
  }
  await syncDir(dirname(file));
}

/**
 * Removes a file and makes the removal durable.
 * @public
 */
export async function removeFileDurable(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (error: any) {
    if (error.code !== 'ENOENT') throw error;
  }
  await syncDir(dirname(file));
}

/** A rename or unlink is durable only once the folder itself is synced. */
async function syncDir(dir: string) {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Some file systems (and Windows) cannot fsync a folder; the rename is still atomic.
  } finally {
    await handle?.close();
  }
}
