#!/usr/bin/env python3
"""Static performance evidence for the CUDA kernels, no GPU needed.

Compiles every kernels/*.cu with nvcc for sm_80, 86, 89 and 90 (ptxas -v), and for each kernel
and arch reports registers, shared memory, spills, block size and the occupancy they allow, and
whether the code has 128-bit global loads (SASS LDG.E.128 through cuobjdump when it is
installed, else PTX ld.global[.nc].v4 / v2.u64, and the report says which). With --check it
fails when a kernel breaks the rule of its class in kernels/kernel_classes.txt:
weight-streaming and decode kernels may not spill, weight-streaming kernels must use 128-bit
loads, and every classified kernel must reach its listed occupancy.

Occupancy is computed as the CUDA occupancy calculator does it: blocks per SM limited by the
arch's block slots, warp slots, registers (allocated per warp in units of 256) and shared memory
(per block, plus the 1 KiB the driver reserves, in units of 128 bytes).

Exit codes: 0 ok, 1 a check failed or a compile failed, 77 nvcc not found (CTest: skipped).

  scripts/kernel-resources.py --check                 # the CTest check
  scripts/kernel-resources.py --markdown table.md     # the BENCHMARKS.md table
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Per-SM limits: warp slots, block slots, shared memory (bytes) and registers.
ARCHS = {
    80: dict(warps=64, blocks=32, smem=164 * 1024, regs=65536),
    86: dict(warps=48, blocks=16, smem=100 * 1024, regs=65536),
    89: dict(warps=48, blocks=24, smem=100 * 1024, regs=65536),
    90: dict(warps=64, blocks=32, smem=228 * 1024, regs=65536),
}
RESERVED_SMEM = 1024
QUANT_NAMES = {0: "f32", 1: "f16", 2: "q4_0", 3: "q4_1", 6: "q5_0", 7: "q5_1", 8: "q8_0", 10: "q2_K",
               11: "q3_K", 12: "q4_K", 13: "q5_K", 14: "q6_K", 20: "iq4_nl", 23: "iq4_xs", 30: "bf16"}


def find_tool(name, nvcc):
    """A CUDA tool beside nvcc, or on PATH."""
    if nvcc:
        beside = os.path.join(os.path.dirname(nvcc), name)
        if os.path.exists(beside):
            return beside
    return shutil.which(name)


def read_classes(path):
    rules = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            pattern, cls, threads, occupancy = line.split()  # no spaces in a pattern: use \s
            rules.append((re.compile(pattern), cls, int(threads), float(occupancy)))
    return rules


def demangle(names):
    if not names:
        return {}
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True, check=True).stdout
    return dict(zip(names, out.splitlines()))


def short_name(demangled):
    """'void latent::gpu::(anon)::matvec_q8_kernel<(QuantType)12, 1>(...)' -> base and args."""
    head = demangled.split("(", 1)[0] if "<" not in demangled else demangled
    m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)(<.*>)?\(", demangled)
    if not m:
        return head, ""
    base, args = m.group(1), m.group(2) or ""

    def pretty(a):
        q = re.match(r"\(latent::\w+::QuantType\)(\d+)", a.strip())
        if q:
            return QUANT_NAMES.get(int(q.group(1)), a)
        h = re.match(r"\(latent::\w+::HalfFormat\)(\d+)", a.strip())
        if h:
            return "f16" if h.group(1) == "0" else "bf16"
        return re.sub(r"\(latent::\w+::\w+\)", "", a.strip())

    if args:
        args = "<" + ", ".join(pretty(a) for a in args[1:-1].split(",")) + ">"
    return base, args


def parse_ptxas(text):
    """{(mangled, arch): dict(regs, smem, spill_st, spill_ld, stack)} from -Xptxas -v output."""
    result = {}
    current = None
    for line in text.splitlines():
        m = re.search(r"Compiling entry function '([^']+)' for 'sm_(\d+)'", line)
        if m:
            current = (m.group(1), int(m.group(2)))
            result[current] = dict(regs=0, smem=0, spill_st=0, spill_ld=0, stack=0)
            continue
        if current is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            result[current].update(stack=int(m.group(1)), spill_st=int(m.group(2)), spill_ld=int(m.group(3)))
        m = re.search(r"Used (\d+) registers", line)
        if m:
            result[current]["regs"] = int(m.group(1))
            s = re.search(r"(\d+) bytes smem", line)
            result[current]["smem"] = int(s.group(1)) if s else 0
    return result


def split_ptx(ptx):
    """{mangled: (maxntid or None, body)} for each .entry of a PTX file."""
    entries = {}
    parts = re.split(r"^\.(?:visible\s+)?\.?entry\s+", ptx, flags=re.M)
    for part in parts[1:]:
        name = re.match(r"([\w$]+)", part).group(1)
        ntid = re.search(r"\.maxntid\s+(\d+),\s*(\d+),\s*(\d+)", part.split("{", 1)[0])
        threads = int(ntid.group(1)) * int(ntid.group(2)) * int(ntid.group(3)) if ntid else None
        entries[name] = (threads, part)
    return entries


def wide_loads_ptx(body):
    return bool(re.search(r"ld\.global(\.nc)?(\.L1::\w+)?(\.L2::\w+)?\.v4\.(u32|b32|f32|s32)|ld\.global(\.nc)?\.v2\.(u64|b64|f64)", body))


def sass_wide_loads(cuobjdump, cubin):
    """{mangled: bool} from cuobjdump -sass of one cubin."""
    text = subprocess.run([cuobjdump, "-sass", cubin], capture_output=True, text=True, check=True).stdout
    found = {}
    current = None
    for line in text.splitlines():
        m = re.search(r"Function : (\S+)", line)
        if m:
            current = m.group(1)
            found[current] = False
        elif current and re.search(r"LDG\.E\.(?:\w+\.)*128", line):
            found[current] = True
    return found


def occupancy(arch, threads, regs, smem):
    lim = ARCHS[arch]
    warps = (threads + 31) // 32
    by_slots = min(lim["blocks"], lim["warps"] // warps)
    regs_per_warp = ((max(regs, 1) * 32 + 255) // 256) * 256
    by_regs = (lim["regs"] // regs_per_warp) // warps
    smem_block = ((smem + RESERVED_SMEM + 127) // 128) * 128
    by_smem = lim["smem"] // smem_block
    blocks = min(by_slots, by_regs, by_smem)
    return blocks * warps / lim["warps"]


def compile_source(nvcc, source, archs, workdir, includes):
    gencodes = []
    for a in archs:
        gencodes += ["-gencode", f"arch=compute_{a},code=sm_{a}"]
    cmd = [nvcc, "-std=c++20", "-O3", "-c", source, "-o", os.path.join(workdir, "out.o"), "-Xptxas", "-v", "--keep",
           "--keep-dir", workdir] + [f"-I{i}" for i in includes] + gencodes
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.stderr.write(run.stdout + run.stderr)
        raise RuntimeError(f"nvcc failed on {source}")
    return run.stdout + run.stderr


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nvcc", default=None)
    parser.add_argument("--archs", default="80,86,89,90")
    parser.add_argument("--sources", nargs="*", default=None, help="default: kernels/*.cu")
    parser.add_argument("--classes", default=os.path.join(ROOT, "kernels", "kernel_classes.txt"))
    parser.add_argument("--check", action="store_true", help="fail on a broken rule")
    parser.add_argument("--markdown", default=None, help="write the table here ('-' = stdout)")
    parser.add_argument("--include", action="append", default=[], help="extra include directory")
    parser.add_argument("--summary", action="store_true", help="one table row per kernel, archs side by side")
    args = parser.parse_args()

    nvcc = args.nvcc or shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    if not os.path.exists(nvcc):
        print("SKIP: nvcc not found; the static kernel resource check needs the CUDA compiler")
        return 77
    archs = [int(a) for a in args.archs.split(",")]
    cuobjdump = find_tool("cuobjdump", nvcc)
    rules = read_classes(args.classes)
    sources = args.sources or sorted(glob.glob(os.path.join(ROOT, "kernels", "*.cu")))
    includes = args.include + [os.path.join(ROOT, "kernels")]

    rows = []  # (source, base, args, arch, threads, info, wide, cls, min_occ)
    with tempfile.TemporaryDirectory(prefix="kernel-resources-") as tmp:
        for source in sources:
            stem = os.path.splitext(os.path.basename(source))[0]
            workdir = os.path.join(tmp, stem)
            os.makedirs(workdir)
            ptxas = parse_ptxas(compile_source(nvcc, source, archs, workdir, includes))
            names = demangle(sorted({name for name, _ in ptxas}))
            for arch in archs:
                # nvcc names the kept files per arch only when it compiles for several.
                tag = f".compute_{arch}" if len(archs) > 1 else ""
                with open(os.path.join(workdir, f"{stem}{tag}.ptx"), encoding="utf-8") as f:
                    entries = split_ptx(f.read())
                sass = sass_wide_loads(cuobjdump, os.path.join(workdir, f"{stem}{tag}.cubin")) if cuobjdump else {}
                for (mangled, a), info in sorted(ptxas.items()):
                    if a != arch:
                        continue
                    base, targs = short_name(names[mangled])
                    rule = next((r for r in rules if r[0].search(base + targs)), None)
                    threads, body = entries.get(mangled, (None, ""))
                    threads = threads or (rule[2] if rule else 0)
                    wide = sass.get(mangled, False) if cuobjdump else wide_loads_ptx(body)
                    rows.append((os.path.basename(source), base, targs, arch, threads, info, wide,
                                 rule[1] if rule else "unclassified", rule[3] if rule else 0.0))

    failures = []
    for source, base, targs, arch, threads, info, wide, cls, min_occ in rows:
        label = f"{base}{targs} sm_{arch}"
        if cls in ("weight-streaming", "decode") and (info["spill_st"] or info["spill_ld"]):
            failures.append(f"{label}: spills {info['spill_st']} bytes stored / {info['spill_ld']} loaded")
        if cls == "weight-streaming" and not wide:
            failures.append(f"{label}: no 128-bit global loads")
        occ = occupancy(arch, threads, info["regs"], info["smem"]) if threads else 0.0
        if cls != "unclassified" and occ + 1e-9 < min_occ:
            failures.append(f"{label}: occupancy {occ:.0%} < {min_occ:.0%} ({info['regs']} registers, "
                            f"{info['smem']} B shared, {threads} threads)")

    load_source = "SASS LDG.E.128 (cuobjdump)" if cuobjdump else "PTX ld.global.v4 (cuobjdump not found)"
    if args.summary:
        table = summary_table(rows, archs) + f"\n128-bit loads checked in: {load_source}.\n"
    else:
        table = full_table(rows) + f"\n\n128-bit loads checked in: {load_source}.\n"
    if args.markdown == "-":
        print(table)
    elif args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(table)

    print(f"{len(rows)} kernel/arch pairs from {len(sources)} sources; 128-bit loads checked in {load_source}")
    if args.check:
        for f in failures:
            print("FAIL:", f)
        if failures:
            return 1
        print("all static kernel checks passed")
    return 0


def full_table(rows):
    lines = [f"| kernel | class | arch | threads | registers | shared B | spill st/ld B | occupancy | 128-bit loads |",
             "|---|---|---|---|---|---|---|---|---|"]
    for source, base, targs, arch, threads, info, wide, cls, _ in rows:
        occ = occupancy(arch, threads, info["regs"], info["smem"]) if threads else 0.0
        lines.append(f"| `{base}{targs}` | {cls} | sm_{arch} | {threads or '?'} | {info['regs']} | {info['smem']} | "
                     f"{info['spill_st']}/{info['spill_ld']} | {occ:.0%} | {'yes' if wide else 'no'} |")
    return "\n".join(lines)


def summary_table(rows, archs):
    """One row per kernel instantiation, the archs side by side."""
    by_kernel = {}
    for source, base, targs, arch, threads, info, wide, cls, _ in rows:
        by_kernel.setdefault((source, base + targs), []).append((arch, threads, info, wide, cls))
    arch_list = "/".join(str(a) for a in archs)
    lines = [f"| kernel | class | threads | registers sm_{arch_list} | shared B | spills B | occupancy sm_{arch_list} | "
             "128-bit loads |", "|---|---|---|---|---|---|---|---|"]
    for (source, name), entries in by_kernel.items():
        entries.sort()
        threads = entries[0][1]
        regs = "/".join(str(e[2]["regs"]) for e in entries)
        smem = max(e[2]["smem"] for e in entries)
        spills = max(e[2]["spill_st"] + e[2]["spill_ld"] for e in entries)
        occ = "/".join(f"{occupancy(e[0], e[1], e[2]['regs'], e[2]['smem']):.0%}" if e[1] else "?" for e in entries)
        wide = "yes" if all(e[3] for e in entries) else ("no" if not any(e[3] for e in entries) else "some archs")
        lines.append(f"| `{name}` | {entries[0][4]} | {threads or '?'} | {regs} | {smem} | {spills} | {occ} | {wide} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
