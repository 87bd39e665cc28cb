#!/usr/bin/env python3
"""Checks that a PNG screenshot of report.html shows drawn plots, not a blank page: decodes the PNG
with the standard library only (zlib and the five PNG row filters), then requires non-white
pixels and pixels of the first series colour (#1f77b4, report/html_report.cpp's kColors[0])
and of the second (#d62728). Usage: check_png_drawn.py FILE.png. Exit 0 when drawn, 1 when not."""
import struct
import sys
import zlib


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    at, idat, header = 8, b"", None
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"{path}: only 8-bit RGB/RGBA, non-interlaced PNGs are read here (got {header})")
    channels = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * channels
    rows, previous, at = [], bytearray(stride), 0
    for _ in range(height):
        kind, row = raw[at], bytearray(raw[at + 1:at + 1 + stride])
        at += 1 + stride
        for i in range(stride):
            left = row[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1: row[i] = (row[i] + left) & 255
            elif kind == 2: row[i] = (row[i] + up) & 255
            elif kind == 3: row[i] = (row[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                row[i] = (row[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(row)
        previous = row
    return width, height, channels, rows


def near(pixel, colour, tolerance=40):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


def main():
    width, height, channels, rows = decode(sys.argv[1])
    total = non_white = blue = red = 0
    for row in rows[::2]:  # every other row and column: enough to count, four times faster
        for x in range(0, width * channels, channels * 2):
            pixel = tuple(row[x:x + 3])
            total += 1
            non_white += min(pixel) < 235
            blue += near(pixel, (0x1f, 0x77, 0xb4))
            red += near(pixel, (0xd6, 0x27, 0x28))
    print(f"{sys.argv[1]}: {width}x{height}, sampled {total} pixels: {non_white} not white, "
          f"{blue} of the first series colour, {red} of the second")
    drawn = non_white > total * 0.01 and blue > 200 and red > 50
    print("plots drawn" if drawn else "looks blank: no plot lines found")
    return 0 if drawn else 1


if __name__ == "__main__":
    sys.exit(main())
