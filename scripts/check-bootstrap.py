#!/usr/bin/env python3
"""Checks that a Lambda bootstrap is what provided.al2023 on arm64 runs.

Usage: check-bootstrap.py PATH

Passes when PATH is a 64-bit little-endian ELF executable for AArch64 with no
program interpreter (statically linked, so it does not depend on the image's
libc), and prints its size. Standard library only: a fresh machine may lack
file(1).
"""

import os
import struct
import sys

EM_AARCH64 = 183
ET_EXEC, ET_DYN = 2, 3
PT_INTERP = 3


def check(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF":
        return "not an ELF file"
    if data[4] != 2:
        return "not a 64-bit ELF (EI_CLASS %d)" % data[4]
    if data[5] != 1:
        return "not little-endian (EI_DATA %d)" % data[5]
    if data[7] not in (0, 3):  # System V or GNU/Linux ABI
        return "OS ABI %d is not Linux" % data[7]
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    if e_machine != EM_AARCH64:
        return "machine %d is not AArch64 (%d): built for the wrong GOARCH" % (e_machine, EM_AARCH64)
    if e_type not in (ET_EXEC, ET_DYN):
        return "ELF type %d is not an executable" % e_type
    e_phoff = struct.unpack_from("<Q", data, 32)[0]
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    for i in range(e_phnum):
        (p_type,) = struct.unpack_from("<I", data, e_phoff + i * e_phentsize)
        if p_type == PT_INTERP:
            return "dynamically linked (has a program interpreter): build with CGO_ENABLED=0"
    if not os.access(path, os.X_OK):
        return "not executable"
    return None


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    try:
        problem = check(path)
    except (OSError, struct.error) as e:
        problem = str(e)
    if problem:
        sys.exit("%s: %s" % (path, problem))
    size = os.path.getsize(path)
    print("%s: static linux/arm64 ELF executable, %d bytes (%.1f MiB)" % (path, size, size / 2**20))


if __name__ == "__main__":
    main()
