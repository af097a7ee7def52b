import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { safeExtractTarGz, downloadCifar10, unsafeEntryReason } from '../src/data/download.js';
import { writeCifarBatch, CIFAR_IMAGE_BYTES } from '../src/io/cifar.js';
import { CIFAR10_TRAIN_FILES } from '../src/data/cifar10.js';
import { tarball } from './hostile-files.js';

const hello = new TextEncoder().encode('hello');

test('safe extraction: a normal archive extracts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tar-'));
  try {
    writeFileSync(join(dir, 'ok.tar.gz'), tarball([{ name: 'top/', type: '5' }, { name: 'top/a.txt', content: hello }]));
    await safeExtractTarGz(join(dir, 'ok.tar.gz'), join(dir, 'out'), 1);
    assert.equal(readFileSync(join(dir, 'out', 'a.txt'), 'utf8'), 'hello');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('safe extraction: ../evil, absolute paths and links are rejected with an error, nothing written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tar-'));
  try {
    const cases: [string, Parameters<typeof tarball>[0], RegExp][] = [
      ['dotdot', [{ name: 'fine.txt', content: hello }, { name: '../evil', content: hello }], /"\.\.\/evil": a path that escapes the target directory/],
      ['nested', [{ name: 'a/../../evil', content: hello }], /escapes the target directory/],
      ['absolute', [{ name: '/tmp/evil-abs', content: hello }], /"\/tmp\/evil-abs": an absolute path/],
      ['symlink', [{ name: 'link', type: '2', link: '/etc/passwd' }], /"link": a link \(type SymbolicLink\)/],
      ['hardlink', [{ name: 'hard', type: '1', link: '/etc/passwd' }], /"hard": a link \(type Link\)/],
    ];
    for (const [name, entries, message] of cases) {
      const archive = join(dir, `${name}.tar.gz`);
      writeFileSync(archive, tarball(entries));
      const out = join(dir, `out-${name}`);
      await assert.rejects(safeExtractTarGz(archive, out), (e: Error) => {
        assert.match(e.message, /refusing to extract/);
        assert.match(e.message, message);
        return true;
      });
      assert.equal(existsSync(join(out, 'fine.txt')), false);
      assert.equal(existsSync(join(dir, 'evil')), false);
    }
    assert.equal(unsafeEntryReason('ok/../x', 'File', dir), 'a ".." path component');
    assert.equal(unsafeEntryReason('a/b.bin', 'File', dir), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('downloadCifar10: offline fails fast, naming where to put the files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dl-'));
  try {
    await assert.rejects(downloadCifar10(dir, { url: 'http://127.0.0.1:9/cifar.tar.gz', timeoutMs: 5000 }), (e: Error) => {
      assert.match(e.message, /Cannot download http:\/\/127\.0\.0\.1:9\/cifar\.tar\.gz/);
      assert.ok(e.message.includes(`CIFAR-10 binary files not found in ${dir}`));
      assert.match(e.message, /data_batch_1\.bin/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('downloadCifar10: verifies the MD5 and extracts the archive layout', async () => {
  const rec = writeCifarBatch(new Uint8Array(2 * CIFAR_IMAGE_BYTES), new Uint8Array([3, 4]));
  const files = [...CIFAR10_TRAIN_FILES, 'test_batch.bin'].map((f) => ({ name: `cifar-10-batches-bin/${f}`, content: rec }));
  const archive = tarball([{ name: 'cifar-10-batches-bin/', type: '5' }, ...files]);
  const md5 = createHash('md5').update(archive).digest('hex');
  const server = createServer((_req, res) => res.end(archive));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/c.tar.gz`;
  const dir = mkdtempSync(join(tmpdir(), 'dl-'));
  try {
    await assert.rejects(downloadCifar10(dir, { url, md5: '0'.repeat(32) }), /MD5 [0-9a-f]{32} does not match the expected 0{32}/);
    assert.equal(await downloadCifar10(dir, { url, md5 }), dir);
    assert.equal(readFileSync(join(dir, 'data_batch_3.bin')).length, 2 * 3073);
    assert.equal(await downloadCifar10(dir, { url: 'http://127.0.0.1:9/none', md5 }), dir); // present: no download
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
