// SPDX-License-Identifier: Apache-2.0
// Generates the TypeScript side of the C shapes shared with user space, so the
// C headers are the single source of truth:
//  - packages/collectors/src/<name>/layout.gen.ts for bpf/<name>/<name>.bpf.o:
//    every struct and enum declared in bpf/<name>/*.h (from the object's BTF)
//    plus the shared ft_event_header, and the integer #defines of those headers
//    (from `clang -dM -E`, which BTF does not carry);
//  - packages/collectors/src/runtime/shapes.gen.ts: the structs, enums and
//    integer #defines of bpf/include/*.h that user space reads or writes.
// Output is checked in and deterministic; `--check` compares instead of
// writing and exits 1 on drift (packages/collectors/test/shapes-gen.test.ts).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const bpfDir = join(root, 'bpf');
const check = process.argv.includes('--check');
const drifted = [];

function emit(path, text) {
  if (check) {
    if (!existsSync(path) || readFileSync(path, 'utf8') !== text)
      drifted.push(relative(root, path));
    return;
  }
  writeFileSync(path, text);
}

function headers(dir) {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.h'))
    .sort()
    .map((f) => join(dir, f));
}

function enumNames(file) {
  const names = new Set();
  for (const f of [file])
    for (const m of readFileSync(f, 'utf8').matchAll(/^enum (\w+) \{/gm)) names.add(m[1]);
  return names;
}

/**
 * Integer object-like #defines written in `files`, with the values the
 * preprocessor sees (clang -dM -E with the BPF build's include paths), so a
 * define built from another define resolves too. Header guards, function-like
 * macros and non-integer values are left out.
 */
const arch = 'x86';
const clangFlags = (header) => [
  '-target',
  'bpf',
  `-D__TARGET_ARCH_${arch}`,
  '-I',
  join(bpfDir, 'include'),
  '-I',
  join(bpfDir, 'vmlinux', arch),
  '-I',
  join(header, '..'),
];

/**
 * Enums declared in `files`. clang emits BTF only for types something
 * references, and the kind enums are used as constants only, so a scratch
 * object that includes the headers and references each enum carries them.
 */
function enumsOfHeaders(files) {
  const names = [...new Set(files.flatMap((f) => [...enumNames(f)]))].sort();
  if (names.length === 0) return {};
  const dir = mkdtempSync(join(tmpdir(), 'gen-layouts-'));
  try {
    const src = join(dir, 'enums.bpf.c');
    writeFileSync(
      src,
      `#include "vmlinux.h"\n` +
        files.map((f) => `#include "${f}"\n`).join('') +
        names.map((n) => `enum ${n} *ft_enum_${n};\n`).join(''),
    );
    const obj = join(dir, 'enums.bpf.o');
    execFileSync('clang', ['-g', '-O2', ...clangFlags(files[0]), '-c', src, '-o', obj]);
    return enumsOf(btfTypes(obj), new Set(names));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function integerDefines(files) {
  const own = new Set();
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/^#define\s+(\w+)(?=[\s(])(?!\()/gm)) {
      // `#ifndef E2BIG / #define E2BIG 7`: a fallback for a system constant, not ours.
      if (!text.includes(`#ifndef ${m[1]}\n#define ${m[1]} `)) own.add(m[1]);
    }
  }
  const all = new Map();
  for (const f of files) {
    const out = execFileSync('clang', ['-dM', '-E', ...clangFlags(f), f], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    for (const m of out.matchAll(/^#define (\w+) (.+)$/gm)) all.set(m[1], m[2].trim());
  }
  const value = (name, depth = 0) => {
    const text = all.get(name);
    if (text === undefined || depth > 8) return undefined;
    const expr = text.replace(/\b([A-Za-z_]\w*)\b/g, (w) => {
      const v = value(w, depth + 1);
      return v === undefined ? '@' : `(${v}n)`;
    });
    const js = expr.replace(/\b(0x[0-9a-fA-F]+|\d+)[uUlL]*\b(?!n)/g, '$1n');
    if (!/^[\s\d()x0-9a-fA-Fn<>|&~+\-*]+$/.test(js)) return undefined;
    try {
      return BigInt.asIntN(65, new Function(`return (${js});`)());
    } catch {
      return undefined;
    }
  };
  const defines = {};
  for (const name of [...own].sort()) {
    if (/_H$/.test(name)) continue;
    const v = value(name);
    if (typeof v === 'bigint') defines[name] = v;
  }
  return defines;
}

function definesSource(defines) {
  return Object.entries(defines)
    .map(([n, v]) => `  ${n}: ${v > BigInt(Number.MAX_SAFE_INTEGER) ? `${v}n` : String(v)},`)
    .join('\n');
}

function enumsOf(types, wanted) {
  const enums = {};
  for (const t of types) {
    if (t.kind !== 'ENUM' || !wanted.has(t.name) || enums[t.name]) continue;
    enums[t.name] = Object.fromEntries(t.values.map((v) => [v.name, v.val]));
  }
  return enums;
}

function enumsSource(enums) {
  return Object.entries(enums)
    .map(([n, e]) => `  ${n}: ${JSON.stringify(e)},`)
    .join('\n');
}

function btfTypes(obj) {
  return JSON.parse(
    execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', obj], { maxBuffer: 64 << 20 }),
  ).types;
}

function structNames(dir) {
  const names = new Set();
  for (const f of headers(dir)) {
    for (const m of readFileSync(f, 'utf8').matchAll(/^struct (\w+) \{/gm)) names.add(m[1]);
  }
  return names;
}

function layoutOf(types, struct) {
  const byId = new Map(types.map((t) => [t.id, t]));
  const resolve = (id) => {
    let t = byId.get(id);
    while (t && ['TYPEDEF', 'VOLATILE', 'CONST', 'RESTRICT'].includes(t.kind))
      t = byId.get(t.type_id);
    return t;
  };
  const scalar = (t) => {
    if (t.kind === 'ENUM') return { kind: `u${t.size * 8}`, size: t.size };
    if (t.kind !== 'INT') throw new Error(`${struct.name}: unsupported member kind ${t.kind}`);
    if (t.encoding === 'CHAR' || t.name === 'char') return { kind: 'char', size: 1 };
    const signed = t.encoding === 'SIGNED';
    return { kind: `${signed ? 's' : 'u'}${t.size * 8}`, size: t.size };
  };
  const fields = {};
  for (const m of struct.members) {
    if (m.bits_offset % 8 !== 0 || m.bitfield_size)
      throw new Error(`${struct.name}.${m.name}: bit fields are not supported`);
    const t = resolve(m.type_id);
    const offset = m.bits_offset / 8;
    if (t.kind === 'ARRAY' && resolve(t.type_id).kind === 'STRUCT') {
      const elem = resolve(t.type_id);
      fields[m.name] = {
        offset,
        size: elem.size * t.nr_elems,
        kind: 'struct',
        struct: elem.name,
        count: t.nr_elems,
      };
    } else if (t.kind === 'ARRAY') {
      const elem = scalar(resolve(t.type_id));
      fields[m.name] = { offset, size: elem.size * t.nr_elems, kind: elem.kind, count: t.nr_elems };
    } else if (t.kind === 'STRUCT') {
      fields[m.name] = { offset, size: t.size, kind: 'struct', struct: t.name };
    } else {
      const s = scalar(t);
      fields[m.name] = { offset, size: s.size, kind: s.kind };
    }
  }
  return { size: struct.size, fields };
}

function structsSource(types, wanted) {
  const layouts = {};
  for (const t of types) {
    if (t.kind === 'STRUCT' && wanted.has(t.name) && !layouts[t.name])
      layouts[t.name] = layoutOf(types, t);
  }
  return Object.entries(layouts)
    .map(([n, l]) => `  ${n}: ${JSON.stringify(l)},`)
    .join('\n');
}

const block = (body) => (body ? `{\n${body}\n}` : '{}');
const sections = (structs, enums, defines) =>
  `export const layouts = ${block(structs)} as const satisfies Record<string, StructLayout>;\n\n` +
  `/** Enums of the C headers, from BTF: name -> member -> value. */\n` +
  `export const enums = ${block(enums)} as const satisfies Record<string, Record<string, number>>;\n\n` +
  `/** Integer #defines of the C headers, from the preprocessor. */\n` +
  `export const defines = ${block(defines)} as const satisfies Record<string, number | bigint>;\n`;

let written = 0;
for (const name of readdirSync(bpfDir).sort()) {
  const obj = join(bpfDir, 'build', `${name}.bpf.o`);
  const tsDir = join(root, 'packages/collectors/src', name);
  if (!existsSync(obj) || !existsSync(tsDir)) continue;
  const types = btfTypes(obj);
  const wanted = structNames(join(bpfDir, name));
  wanted.add('ft_event_header');
  emit(
    join(tsDir, 'layout.gen.ts'),
    `// Generated by scripts/gen-layouts.mjs from the BTF of bpf/build/${name}.bpf.o and bpf/${name}/*.h. Do not edit.\n` +
      `import type { StructLayout } from '../runtime/layout';\n\n` +
      sections(
        structsSource(types, wanted),
        enumsSource(enumsOfHeaders(headers(join(bpfDir, name)))),
        definesSource(integerDefines(headers(join(bpfDir, name)))),
      ),
  );
  written++;
}

// The shared shapes: every collector object includes ft_common.h; proc's BTF
// holds the structs its maps use (ft_filter_cfg, ft_db_ctl, ...). Structs
// that only appear behind macros are found in any object that uses them.
{
  const include = join(bpfDir, 'include');
  // Flavors such as task_struct___pre514 are CO-RE relocation aids, not shapes.
  const wanted = new Set([...structNames(include)].filter((n) => !n.includes('___')));
  const found = {};
  for (const f of readdirSync(join(bpfDir, 'build'))
    .filter((f) => f.endsWith('.bpf.o'))
    .sort()) {
    const types = btfTypes(join(bpfDir, 'build', f));
    for (const t of types) {
      if (t.kind === 'STRUCT' && wanted.has(t.name) && !found[t.name])
        found[t.name] = layoutOf(types, t);
    }
  }
  const missing = [...wanted].filter((n) => !found[n]);
  if (missing.length) throw new Error(`gen-layouts: no BTF for struct(s) ${missing.join(', ')}`);
  const structs = Object.keys(found)
    .sort()
    .map((n) => `  ${n}: ${JSON.stringify(found[n])},`)
    .join('\n');
  const enums = enumsOfHeaders(headers(include));
  emit(
    join(root, 'packages/collectors/src/runtime/shapes.gen.ts'),
    `// Generated by scripts/gen-layouts.mjs from bpf/include/*.h (structs from the BTF of bpf/build/*.bpf.o). Do not edit.\n` +
      `import type { StructLayout } from './layout';\n\n` +
      sections(structs, enumsSource(enums), definesSource(integerDefines(headers(include)))),
  );
  written++;
}

if (check) {
  if (drifted.length) {
    console.error(
      `gen-layouts: out of date (run node scripts/gen-layouts.mjs): ${drifted.join(', ')}`,
    );
    process.exit(1);
  }
  console.log(`gen-layouts: ${written} file(s) up to date`);
} else {
  console.log(`gen-layouts: ${written} generated file(s)`);
}
