// Static checks of the SPA sources: the rules the CSP and the house style rely on.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

async function filesUnder(dir, ext) {
  const out = [];
  for (const entry of await fs.readdir(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...await filesUnder(rel, ext));
    else if (entry.name.endsWith(ext)) out.push(rel);
  }
  return out;
}

const read = (rel) => fs.readFile(path.join(ROOT, rel), 'utf8');
// Comments may mention the forbidden APIs (to explain why); code may not.
const stripComments = (src) => src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');

test('no HTML-string sinks, eval or Web Storage in the app code', async () => {
  const forbidden = [
    /\.innerHTML\b/, /\.outerHTML\b/, /insertAdjacentHTML/, /document\.write/, /\beval\s*\(/, /new\s+Function\s*\(/,
    /localStorage/, /sessionStorage/, /\.style\./, /setAttribute\(\s*['"]style/, /setAttribute\(\s*['"]on/,
  ];
  for (const file of await filesUnder('js', '.js')) {
    let src = stripComments(await read(file));
    // session.js alone keeps one non-secret hint in localStorage (see the next test).
    if (file === path.join('js', 'session.js')) src = src.replace(/window\.localStorage\.(getItem|setItem|removeItem)\(SESSION_HINT_KEY(, '1')?\)/g, '');
    for (const pattern of forbidden) assert.doesNotMatch(src, pattern, `${file} uses ${pattern}`);
  }
});

test('the only thing in Web Storage is the session hint, and its value is the constant 1', async () => {
  const src = stripComments(await read(path.join('js', 'session.js')));
  const writes = [...src.matchAll(/localStorage\.setItem\(([^)]*)\)/g)].map((m) => m[1]);
  assert.deepEqual(writes, ["SESSION_HINT_KEY, '1'"], 'session.js writes nothing but the hint');
});

test('the audit event types offered by the admin page are the API\'s', async () => {
  // The API publishes its closed list as the OpenAPI enum `AuditEventType`
  // (openapi/openapi.json, which the Rust tests keep equal to the code).
  const doc = JSON.parse(await fs.readFile(path.join(ROOT, '..', 'openapi', 'openapi.json'), 'utf8'));
  const kinds = doc.components.schemas.AuditEventType.enum;
  assert.ok(kinds.length > 0, 'found AuditEventType in openapi.json');
  const { AUDIT_EVENT_TYPES } = await import(new URL('../js/audit-types.js', import.meta.url));
  const offered = AUDIT_EVENT_TYPES.flatMap(([, types]) => types.map(([value]) => value));
  assert.deepEqual([...offered].sort(), [...kinds].sort(), 'frontend/js/audit-types.js lists exactly the AuditEventType enum of the API');
});

test('api.js is the only module that calls fetch', async () => {
  for (const file of await filesUnder('js', '.js')) {
    const calls = /\bfetch\s*\(/.test(stripComments(await read(file)));
    assert.equal(calls, file === path.join('js', 'api.js'), `${file}: fetch use`);
  }
});

test('only views (and the dom helpers) touch the document', async () => {
  for (const file of await filesUnder('js', '.js')) {
    if (file.startsWith(path.join('js', 'views')) || file === path.join('js', 'dom.js')) continue;
    const src = stripComments(await read(file));
    assert.doesNotMatch(src, /\bdocument\./, `${file} touches the DOM`);
  }
});

test('relative imports name their .js file (no build step)', async () => {
  for (const file of await filesUnder('js', '.js')) {
    const src = await read(file);
    for (const [, spec] of src.matchAll(/\bfrom\s+['"]([^'"]+)['"]/g)) {
      assert.match(spec, /^\.{1,2}\/.*\.js$/, `${file} imports ${spec}`);
    }
  }
});

test('index.html has no inline script, style or handler and uses absolute asset paths', async () => {
  const html = await read('index.html');
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'inline <script>');
  assert.doesNotMatch(html, /<style/i, 'inline <style>');
  assert.doesNotMatch(html, /\sstyle\s*=/i, 'style attribute');
  assert.doesNotMatch(html, /\son[a-z]+\s*=/i, 'event handler attribute');
  assert.match(html, /<meta name="securetodo-api-base" content="">/, 'API base meta tag (rewritten by deploy/nginx)');
  for (const [, ref] of html.matchAll(/(?:href|src)="([^"#]+)"/g)) {
    assert.ok(ref.startsWith('/'), `asset path ${ref} is absolute so deep links work`);
  }
  for (const [, ref] of html.matchAll(/(?:href|src)="(\/(?:css|js|img)\/[^"]+)"/g)) {
    await fs.access(path.join(ROOT, ref)).catch(() => assert.fail(`missing ${ref}`));
  }
});
