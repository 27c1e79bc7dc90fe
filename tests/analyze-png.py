#!/usr/bin/env python3
"""Minimal PNG reader/writer (stdlib only) for the report screenshot test.

  analyze-png.py stats FILE.png X Y W H     -> JSON: mean, stddev, distinct colours,
                                              share of non-background pixels
  analyze-png.py crop FILE.png X Y W H OUT  -> a cropped copy (for looking at it)
  analyze-png.py diff A.png B.png           -> JSON: share of pixels that differ
  analyze-png.py colour FILE.png RRGGBB TOL -> JSON: share of pixels within TOL of the colour
  analyze-png.py check SHOT.png HIDDEN.png RRGGBB:TOL...
                                            -> JSON: stats of SHOT, share of pixels that
                                               differ from HIDDEN, share of each colour

Handles what Chromium writes: 8-bit RGB or RGBA, non-interlaced, filters 0-4.
"""
import json
import struct
import sys
import zlib


def read_png(path):
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        raise SystemExit(f'{path}: not a PNG')
    pos, idat, w = 8, b'', None
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b'IHDR':
            w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise SystemExit(f'{path}: unsupported PNG (depth {depth}, type {ctype})')
            bpp = 3 if ctype == 2 else 4
        elif kind == b'IDAT':
            idat += body
        elif kind == b'IEND':
            break
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 0:
            rows.append(bytes(line)); prev = line; continue
        if f == 2:                  # "up", the common case: no dependency within a row
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
            rows.append(bytes(line)); prev = line; continue
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pr) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def pixels(img, x, y, w, h):
    W, H, bpp, rows = img
    for yy in range(max(0, y), min(H, y + h)):
        r = rows[yy]
        for xx in range(max(0, x), min(W, x + w)):
            yield r[xx * bpp:xx * bpp + 3]


def stats(img, x, y, w, h):
    n = s = s2 = 0
    colours = {}
    for p in pixels(img, x, y, w, h):
        v = (p[0] * 299 + p[1] * 587 + p[2] * 114) / 1000
        n += 1
        s += v
        s2 += v * v
        colours[bytes(p)] = colours.get(bytes(p), 0) + 1
    if not n:
        return {'pixels': 0}
    bg = max(colours.values())
    mean = s / n
    return {'pixels': n, 'mean': round(mean, 2),
            'stddev': round(max(0.0, s2 / n - mean * mean) ** 0.5, 2),
            'colours': len(colours), 'non_background': round(1 - bg / n, 4)}


def write_png(path, w, h, rows):
    raw = b''.join(b'\x00' + r for r in rows)
    def chunk(k, b):
        return struct.pack('>I', len(b)) + k + b + struct.pack('>I', zlib.crc32(k + b) & 0xffffffff)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(raw, 6)) + chunk(b'IEND', b''))


def main(argv):
    if argv[1] == 'stats':
        img = read_png(argv[2])
        print(json.dumps(stats(img, *map(int, argv[3:7]))))
    elif argv[1] == 'crop':
        img = read_png(argv[2])
        x, y, w, h = map(int, argv[3:7])
        W, H, bpp, rows = img
        out = [b''.join(bytes(p) for p in pixels(img, x, yy, w, 1)) for yy in range(y, min(H, y + h))]
        write_png(argv[7], min(w, W - x), len(out), out)
    elif argv[1] == 'diff':
        a, b = read_png(argv[2]), read_png(argv[3])
        n = d = 0
        for ra, rb in zip(a[3], b[3]):
            for i in range(0, min(len(ra) // a[2], len(rb) // b[2])):
                n += 1
                d += ra[i * a[2]:i * a[2] + 3] != rb[i * b[2]:i * b[2] + 3]
        print(json.dumps({'pixels': n, 'differ': round(d / n, 4) if n else 0}))
    elif argv[1] == 'check':
        a, b = read_png(argv[2]), read_png(argv[3])
        out = {'page': stats(a, 0, 0, a[0], a[1])}
        n = d = 0
        for ra, rb in zip(a[3], b[3]):
            n += len(ra) // a[2]
            d += sum(1 for i in range(0, min(len(ra), len(rb)), a[2]) if ra[i:i + 3] != rb[i:i + 3])
        out['differ'] = round(d / n, 4) if n else 0
        for spec in argv[4:]:
            hexc, tol = spec.split(':')
            want, tol = bytes.fromhex(hexc), int(tol)
            hit = 0
            for r in a[3]:
                for i in range(0, len(r), a[2]):
                    hit += (abs(r[i] - want[0]) <= tol and abs(r[i + 1] - want[1]) <= tol
                            and abs(r[i + 2] - want[2]) <= tol)
            out[hexc] = round(hit / n, 5) if n else 0
        print(json.dumps(out))
    elif argv[1] == 'colour':
        W, H, bpp, rows = read_png(argv[2])
        want = bytes.fromhex(argv[3])
        tol = int(argv[4])
        n = hit = 0
        for r in rows:
            for i in range(0, len(r), bpp):
                n += 1
                hit += (abs(r[i] - want[0]) <= tol and abs(r[i + 1] - want[1]) <= tol
                        and abs(r[i + 2] - want[2]) <= tol)
        print(json.dumps({'pixels': n, 'share': round(hit / n, 5) if n else 0}))
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main(sys.argv)
