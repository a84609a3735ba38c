#!/usr/bin/env python3
"""The instruction mix of V8's x64 code for the innermost multiply loops of
named wasm functions, per 8 `vpmaddwd` (one k block of the 2x4 int8 tile, or
one k pair of the 4x8 splat tile) and, for f32 loops, per 8 `vmulps`.

usage: kernel_loops.py MODULE.wat V8_CODE.txt PATTERN...

MODULE.wat is `wasm-dis` of the module V8 compiled (it gives each function
index its name); V8_CODE.txt is `node --print-wasm-code --no-liftoff
--no-wasm-lazy-compilation` of the same module. A loop is a backward jump;
innermost loops contain no other backward jump.
"""
import re
import sys


def demangle(name):
    """Rust's legacy mangling `_ZN5qplay5bench...17h<hash>E` -> `qplay::bench::...`."""
    if not name.startswith('_ZN'):
        return name
    parts, i = [], 3
    while i < len(name) and name[i].isdigit():
        j = i
        while name[j].isdigit():
            j += 1
        n = int(name[i:j])
        parts.append(name[j:j + n])
        i = j + n
    if parts and re.fullmatch(r'h[0-9a-f]{16}', parts[-1]):
        parts.pop()
    for esc, ch in (('$LT$', '<'), ('$GT$', '>'), ('$u7b$', '{'), ('$u7d$', '}'), ('$C$', ','), ('..', '::')):
        parts = [p.replace(esc, ch) for p in parts]
    return '::'.join(parts)


def function_names(wat_path):
    names = []
    for line in open(wat_path):
        if line.startswith(' (import ') and '(func ' in line or line.startswith(' (func '):
            m = re.search(r'\(func \$("[^"]+"|\S+)', line)
            names.append(demangle(m.group(1).strip('"')) if m else '?')
    return names


def functions(code_path):
    """index -> list of (offset, instruction text) of its TurboFan code."""
    out, cur, idx = {}, None, None
    for line in open(code_path):
        if line.startswith('--- WebAssembly code ---'):
            cur = None
        elif line.startswith('index: '):
            idx = int(line.split()[1])
            cur = out.setdefault(idx, [])
        elif cur is not None:
            m = re.match(r'0x[0-9a-f]+\s+([0-9a-f]+)\s+[0-9a-f]+\s+(.*)', line)
            if m:
                cur.append((int(m.group(1), 16), m.group(2).strip()))
    return out


def mnemonic(text):
    words = text.split()
    return words[1] if words[0] == 'REX.W' else words[0]


def innermost_loops(ins):
    loops = []
    for off, text in ins:
        m = re.search(r'j\w+ 0x[0-9a-f]+\s+<\+0x([0-9a-f]+)>', text)
        if m and int(m.group(1), 16) < off:
            loops.append((int(m.group(1), 16), off))
    return [(a, b) for (a, b) in loops if not any(a <= c and d <= b and (c, d) != (a, b) for (c, d) in loops)]


def main():
    wat, code, patterns = sys.argv[1], sys.argv[2], sys.argv[3:]
    names = function_names(wat)
    funcs = functions(code)
    for pattern in patterns:
        for idx, name in enumerate(names):
            if pattern not in name or idx not in funcs:
                continue
            for a, b in innermost_loops(funcs[idx]):
                body = [t for (o, t) in funcs[idx] if a <= o <= b]
                mix = {}
                for t in body:
                    mix[mnemonic(t)] = mix.get(mnemonic(t), 0) + 1
                unit = mix.get('vpmaddwd', 0) or mix.get('vmulps', 0)
                if not unit or 'call' in mix:
                    # No multiply, or a path through the enclosing loop laid out apart from it.
                    continue
                per8 = 8 * len(body) / unit
                mix_s = ', '.join(f'{k}={v}' for k, v in sorted(mix.items(), key=lambda kv: -kv[1]))
                print(f'loop fn={idx} name={name[:90]} instructions={len(body)} '
                      f'multiplies={unit} instructions_per_8_multiplies={per8:.1f} mix: {mix_s}')


if __name__ == '__main__':
    main()
